"""A local fleet for tests, the demo, benchmarks, chaos runs, ``strikeflow fleet`` and
``scripts/fleet``: the emulator plus real Celery subprocesses (workers, beat, Flower), all
on the caller's Redis db numbers and database. Importing it connects to nothing.

    dbs = RedisDbs(broker=8, backend=9, app=10)
    with InProcessEmulator(EmulatorOptions(...)) as emu, Fleet(
        FleetConfig(database_url=url, emulator_url=emu.url, redis=dbs, log_dir=tmp)
    ) as fleet:
        fleet.start_workers([WorkerSpec("pipeline", ("marketdata", "dispatch", "persistence"))])
        fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})

``LocalStack`` starts everything docker-compose.yml does, in the same order;
``background`` records a fleet left running, for a later ``status`` or ``down``.
"""
