"""What grading leaves: the gradebook, lateness, and the reports."""
