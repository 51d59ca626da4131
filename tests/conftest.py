# Hidden tests of every lab use the autograder's fixtures (sub, ref, rng, device, tol).
pytest_plugins = ["autograder.pytest_plugin"]
