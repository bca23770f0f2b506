"""The setting for fleets whose tests are about something other than pricing: each
option order priced once, at the far side (``marketable_limit``), so that it fills as
soon as the test lets the emulator's clock pass its fill delay. A worked order
(the default) rests near the mid while its steps, Celery countdowns of wall-clock
seconds, walk it; its own tests are tests/integration/test_worked_orders.py and
tests/e2e/test_worked_kills.py."""

ONE_PRICE_ENV = {"STRIKEFLOW_OPTION_ORDER_PRICING": "marketable_limit"}
