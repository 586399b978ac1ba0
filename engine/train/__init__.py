"""Training: the run's thread (`trainer`), the reference-style epoch loop (`train_loop`), and what a
run needs around it (schedule, EMA, losses, compile, precision, checkpoints, previews, resume rules,
timing, the detached launcher and finding its processes). Importing the package imports no torch; its modules may."""
