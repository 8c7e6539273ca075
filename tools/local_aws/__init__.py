"""A local AWS for tests and the demo: moto on loopback with cross-account AMI sharing."""
