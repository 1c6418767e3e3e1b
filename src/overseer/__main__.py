from overseer.cli.app import entry

entry()
