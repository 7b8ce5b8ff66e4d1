"""The three endpoint shapes of a KFP resource (experiments, runs, recurring runs).

A resource's handlers subclass these and say which service serves them (:meth:`service`):

- :class:`CollectionHandler`, ``/things``: ``GET`` lists (``service.list(who, *queries,
  params)``, the queries named by ``list_query``), ``POST`` creates from a JSON body checked
  against ``fields`` (``service.create(who, body, *queries)``, named by ``create_query``).
- :class:`ItemHandler`, ``/things/{id}``: ``GET`` is ``service.get(who, id)``, ``DELETE``
  ``service.delete(who, id)``.
- :class:`ActionHandler`, ``/things/{id}:(a|b)``: ``POST`` calls the service's method named
  after the action, ``service.a(who, id)``; the route's pattern lists the actions.
"""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.handlers.base import ApiHandler, Schema, StreamedBodyHandler


class ServiceHandler(ApiHandler):
    def service(self) -> Any:
        raise NotImplementedError

    def queries(self, names: tuple[str, ...]) -> list[str | None]:
        return [self.query(name) for name in names]


class CollectionHandler(StreamedBodyHandler, ServiceHandler):
    fields: Schema = {}
    list_query: tuple[str, ...] = ("namespace",)
    create_query: tuple[str, ...] = ()

    async def get(self) -> None:
        who = await self.principal()
        service = self.service()
        await self.reply_as(who, service.list, *self.queries(self.list_query), self.list_params())

    async def post(self) -> None:
        who = await self.principal()
        body = await self.json_body(self.fields)
        service = self.service()
        await self.reply_as(who, service.create, body, *self.queries(self.create_query))


class ItemHandler(ServiceHandler):
    async def get(self, item_id: str) -> None:
        await self.reply(self.service().get, item_id)

    async def delete(self, item_id: str) -> None:
        await self.reply(self.service().delete, item_id)


class ActionHandler(ServiceHandler):
    async def post(self, item_id: str, action: str) -> None:
        await self.reply(getattr(self.service(), action), item_id)
