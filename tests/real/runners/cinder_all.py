"""Cinder's API, scheduler and one volume service per backend in one process.

They talk over oslo.messaging's in-memory fake:// transport, which only works inside one
process: hence one launcher instead of cinder-api, cinder-scheduler and cinder-volume.
Usage: python cinder_all.py --config-file cinder.conf
"""
import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402
from oslo_service import service as oslo_service  # noqa: E402

from cinder import i18n  # noqa: E402

i18n.enable_lazy()
from cinder.common import config  # noqa: E402
from cinder import coordination, objects, rpc, service, utils, version  # noqa: E402
from cinder.common import constants  # noqa: E402

CONF = cfg.CONF


def main() -> None:
    objects.register_all()
    CONF(sys.argv[1:], project="cinder", version=version.version_string())
    config.set_middleware_defaults()
    logging.setup(CONF, "cinder")
    utils.monkey_patch()
    coordination.COORDINATOR.start()
    rpc.init(CONF)
    launcher = oslo_service.ServiceLauncher(CONF, restart_method="mutate")
    launcher.launch_service(service.Service.create(binary=constants.SCHEDULER_BINARY))
    for backend in filter(None, CONF.enabled_backends):
        launcher.launch_service(service.Service.create(
            host=f"{CONF.host}@{backend}", service_name=backend,
            binary=constants.VOLUME_BINARY, coordination=True))
    launcher.launch_service(service.WSGIService("osapi_volume"))
    launcher.wait()


if __name__ == "__main__":
    main()
