"""GET /api/devices, DELETE /api/devices/{id}."""

from __future__ import annotations

from litestar import Controller, delete, get
from litestar.datastructures import State
from litestar.params import FromPath

from server import memo
from server.deps import AuthDep, DbDep
from server.services import accounts
from server.services.accounts import DeviceInfo


class DeviceController(Controller):
    path = "/api/devices"
    tags = ("accounts",)

    @get("/")
    async def list_devices(self, auth: AuthDep, db: DbDep) -> list[DeviceInfo]:
        return await accounts.list_devices(db, auth)

    @delete("/{device_id:str}", status_code=204)
    async def revoke(self, device_id: FromPath[str], auth: AuthDep, db: DbDep, state: State) -> None:
        memo.forget_device(state, device_id)
        await accounts.revoke_device(db, auth, device_id)
        state.live.device_ended(auth.user_id, device_id)  # its open event streams end in every process
