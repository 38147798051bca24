from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"

    def ready(self) -> None:
        # One provider for the process, pointed at the sidecar (OFREP_ENDPOINT / OFREP_HEADERS).
        from flags.flagwright import configure

        configure()
