"""What a process is: definitions read from YAML and checked, durations and months, working
days, the timers a deadline schedules, the shared state machine per definition version, and
the registry of loaded versions. Nothing here knows about a running issue."""
