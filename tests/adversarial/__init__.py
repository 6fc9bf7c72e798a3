"""Adversarial submissions: what a student could hand in to cheat or to break the grader."""
