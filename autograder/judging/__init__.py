"""The judge side (trusted): hidden tests in pytest, the judge that reaches the sandbox,
tolerances, feedback messages, and grading a batch."""
