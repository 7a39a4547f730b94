"""Evaluation: the real rules engine at full speed on a simulator scenario, on a recording, or on behaviour
populations, scored against labels (`shouwang evaluate`, docs/alerts.md and docs/evaluation.md).

    evaluate.py     a scenario (community -> registry, traffic -> engine on a manual clock), scored against the
                    simulator's labels per rule, a fixed 8 h timer as the baseline
    backtest.py     traffic it did not generate (traffic.py) with a registry CSV and optionally labels
                    (labelfile.py): what-if alerts, or scores, beside awake-hours timers on the same readings
    scoring.py      inactivity scoring (caught, delay, false alarms per household-month) and the timers
    populations.py  every behaviour population (firmware_sim/models/populations.py) through backtest.py
    commands.py     `shouwang evaluate`
It stands above both the simulator (firmware_sim) and the server parts it drives (registry, alerts,
notify): the one package that joins them, so no server package imports the simulator.
"""
