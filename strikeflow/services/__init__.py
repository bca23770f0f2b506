"""Use cases that orchestrate the domain through the ports of ``services.ports``."""
