"""Releasing a lab: student stubs from the source notebook, the release and its checks, and the
student bundle; and labs imported from nbgrader and Otter."""
