"""Evaluation: a simulator scenario through the real rules engine at full speed, scored against the
simulator's ground-truth labels (`shouwang evaluate`, docs/alerts.md).

    evaluate.py   the run (scenario community -> registry, traffic -> engine on a manual clock) and
                  the scoring: detected, missed, late, false alarms per household-month, delays,
                  a fixed 8 h timer as the baseline
    commands.py   `shouwang evaluate`
It stands above both the simulator (firmware_sim) and the server parts it drives (registry, alerts,
notify): the one package that joins them, so no server package imports the simulator.
"""
