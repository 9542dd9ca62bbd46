"""`python -m llmenv` runs the same CLI as the `llmenv` script."""

from llmenv.cli import main

if __name__ == "__main__":
    main()
