"""The parts every step shares: the course config, reading notebooks, and making submitted text
safe."""
