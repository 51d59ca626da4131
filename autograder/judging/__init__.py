"""The judge side (trusted): hidden tests in pytest, the judge that reaches the sandbox,
tolerances, feedback messages, grading a batch, and what grading does for imported labs."""
