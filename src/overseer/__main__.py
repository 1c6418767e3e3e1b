from overseer.cli.entry import entry

entry()
