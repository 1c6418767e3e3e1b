"""SupervisionBench: how well overseer's judge tells good work from bad, measured on HumanEval."""
