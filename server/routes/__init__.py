"""Every controller the app serves; add a feature's controller here."""

from server.routes.auth import AuthController
from server.routes.devices import DeviceController
from server.routes.events import EventsController
from server.routes.pages import PagesController

ROUTE_HANDLERS: list[type] = [
    PagesController,
    AuthController,
    DeviceController,
    EventsController,
]
