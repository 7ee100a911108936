"""The exercise grader: behaviour checks run against any implementation of an exercise."""
