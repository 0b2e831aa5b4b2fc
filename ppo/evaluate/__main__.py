"""`python -m ppo.evaluate`: the command line, `ppo.evaluate_cli` (this package is the
evaluation itself, which imports no command line)."""
from ppo.evaluate_cli import main

if __name__ == "__main__":
    main()
