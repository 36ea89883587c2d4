"""An issue's life: the engine (create, fire), the one transaction object every write goes
through, the hash-chained history, timers and the sweep, evidence, the access policy, read
queries and views, and moving issues between definition versions."""
