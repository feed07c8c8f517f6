"""``python -m chaoskit.netchaos``: the same as ``chaoskit proxy``."""

from chaoskit.netchaos.cli import proxy_command

if __name__ == "__main__":
    proxy_command(prog_name="python -m chaoskit.netchaos")
