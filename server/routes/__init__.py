"""Every controller the app serves; add a feature's controller here."""

from server.attachments.routes import BlobController
from server.attachments.share_routes import ShareClaimController, SharePageController
from server.routes.auth import AuthController
from server.routes.devices import DeviceController
from server.routes.events import EventsController
from server.routes.pages import PagesController
from server.routes.push import NoteDeliveriesController, PushController
from server.routes.sync import SyncController

ROUTE_HANDLERS: list[type] = [
    PagesController,
    AuthController,
    DeviceController,
    EventsController,
    SyncController,
    PushController,
    NoteDeliveriesController,
    BlobController,
    ShareClaimController,
    SharePageController,
]
