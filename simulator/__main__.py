"""``python -m simulator`` runs the same command as ``nrsc simulator``."""
from webapp.cli import simulator_command

simulator_command()
