"""The members an admin has ticked in the member table: request state kept
in Redis between requests, not a model. What it selects in SQL is
models.members.ChosenMembers; the table itself is models.members too."""

import json
from dataclasses import asdict
from functools import cached_property

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from extensions import get_redis, redis_key
from models.access import AccessExtent
from models.members import ChosenMembers, MemberFilter

SELECTION_TTL = 3600  # an hour after the last change, a selection is forgotten


class Selection:
    """The members an admin has selected in one view, kept in Redis so it
    survives paging and filtering and works across web processes.

    It is a set of ids picked one by one, plus optionally "all members
    matching filter F" — bound to F and to the members that existed when it
    was chosen (an id ceiling), minus ids unticked afterwards. The browser
    never sends a list of ids to act on.
    """

    def __init__(self, org_id: int, user_id: int, view: str, extent: AccessExtent = AccessExtent.SOME):
        self.org_id, self.view, self.extent = org_id, view, extent
        self.unavailable = False  # Redis did not answer: shown as empty, and changes are refused
        base = redis_key("selection", org_id, user_id, view)
        self._ids, self._all, self._excluded = f"{base}:ids", f"{base}:all", f"{base}:excluded"

    def _touch(self, pipe):
        for key in (self._ids, self._all, self._excluded):
            pipe.expire(key, SELECTION_TTL)
        self.__dict__.pop("_state", None)  # changed: read again next time

    @cached_property
    def _state(self) -> tuple[list[int], tuple[MemberFilter, int] | None, list[int]]:
        """(ids picked one by one, (filter, id ceiling) of "all matching", ids
        unticked since), read in one round trip and once per request."""
        try:
            with get_redis().pipeline(transaction=False) as pipe:
                pipe.smembers(self._ids)
                pipe.get(self._all)
                pipe.smembers(self._excluded)
                picked, raw_all, excluded = pipe.execute()
        except (RedisConnectionError, RedisTimeoutError):
            # The member table still shows; only selecting waits for Redis.
            self.unavailable = True
            return [], None, []
        matching = None
        if raw_all:
            data = json.loads(raw_all)
            matching = MemberFilter(**data["filter"]), data["ceiling"]
        return [int(i) for i in picked], matching, [int(i) for i in excluded]

    def mark(self, member_ids, checked: bool) -> None:
        redis = get_redis()
        ids = [int(i) for i in member_ids]
        if not ids:
            return
        with redis.pipeline() as pipe:
            if checked:
                pipe.sadd(self._ids, *ids)
                pipe.srem(self._excluded, *ids)
            else:
                pipe.srem(self._ids, *ids)
                if self._state[1]:  # "all matching" holds: remember the exception
                    pipe.sadd(self._excluded, *ids)
            self._touch(pipe)
            pipe.execute()

    def select_all_matching(self, member_filter: MemberFilter, ceiling: int) -> None:
        """Select all that match: this replaces the selection, so what is
        selected is exactly what the filter shows."""
        redis = get_redis()
        with redis.pipeline() as pipe:
            pipe.set(self._all, json.dumps({"filter": asdict(member_filter), "ceiling": ceiling}))
            pipe.delete(self._excluded, self._ids)
            self._touch(pipe)
            pipe.execute()

    def clear(self) -> None:
        try:
            get_redis().delete(self._ids, self._all, self._excluded)
        except (RedisConnectionError, RedisTimeoutError):
            pass  # it expires by itself (SELECTION_TTL)
        self.__dict__.pop("_state", None)

    def follow_filter(self, member_filter: MemberFilter) -> bool:
        """Django admin's rule: "all matching" belongs to the filter it was
        chosen under, so another filter clears the selection, and the count
        the admin sees is always what Add or Remove will act on. True when
        it cleared."""
        chosen = self.all_matching_filter
        if chosen is None or chosen == member_filter:
            return False
        self.clear()
        return True

    @property
    def all_matching_filter(self) -> MemberFilter | None:
        matching = self._state[1]
        return matching[0] if matching else None

    @property
    def chosen(self) -> ChosenMembers:
        picked, matching, excluded = self._state
        return ChosenMembers(self.org_id, self.view, self.extent, picked, matching, excluded)

    def member_ids(self, in_view: bool = True):
        """A subquery of the selected membership ids (ChosenMembers.ids)."""
        return self.chosen.ids(in_view)

    def is_all_of(self, member_filter: MemberFilter, max_id) -> bool:
        """Whether the selection is exactly every member matching
        `member_filter`: chosen with "select all", nothing ticked or
        unticked since, and nobody newer than the ceiling (`max_id()`, the
        organization's highest membership id, is asked only then)."""
        picked, matching, excluded = self._state
        if matching is None or picked or excluded or matching[0] != member_filter:
            return False
        return matching[1] >= max_id()

    @property
    def is_empty(self) -> bool:
        picked, matching, _ = self._state
        return not picked and matching is None

    def count(self) -> int:
        return 0 if self.is_empty else self.chosen.count()  # nothing to ask the database when empty

    def gone_count(self) -> int:
        """Members picked one by one who are no longer in the organization."""
        return self.chosen.gone_count()

    def picked_among(self, ids: list[int]) -> set[int]:
        """Which of these (the rows on screen) are selected."""
        return set() if self.is_empty else self.chosen.among(ids)
