"""The presence service through Python's generated stubs (grpcio).

Run by tests/polyglot/python_client_test.sh, which starts the server and sets
PRESENCE_ADDRESS, and puts the stubs (client/gen_stubs.sh python) on
PYTHONPATH. Each test uses its own channel names: the tests share one server.
"""

import os
import unittest

import grpc
from google.protobuf import json_format, struct_pb2

from presence.v1 import channel_group_pb2 as groups_pb2
from presence.v1 import channel_group_pb2_grpc as groups_grpc
from presence.v1 import presence_pb2 as pb
from presence.v1 import presence_pb2_grpc as pb_grpc

DEADLINE = 5
Action = pb.WatchEventsResponse.Action


def struct(values):
    message = struct_pb2.Struct()
    message.update(values)
    return message


class PresenceClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(os.environ["PRESENCE_ADDRESS"])
        cls.presence = pb_grpc.PresenceServiceStub(cls.channel)
        cls.groups = groups_grpc.ChannelGroupServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def heartbeat(self, user, channels, **fields):
        return self.presence.Heartbeat(
            pb.HeartbeatRequest(user_id=user, channels=channels, **fields), timeout=DEADLINE)

    def assert_status(self, code, text, call, request):
        with self.assertRaises(grpc.RpcError) as raised:
            call(request, timeout=DEADLINE)
        self.assertEqual(raised.exception.code(), code)
        self.assertIn(text, raised.exception.details())

    def test_heartbeat_answers_timeout_and_interval(self):
        reply = self.heartbeat("py-alice", ["py-hb"], timeout_seconds=60, session_id="tab-1")
        self.assertEqual((reply.timeout_seconds, reply.heartbeat_interval_seconds), (60, 29))
        reply = self.heartbeat("py-alice", ["py-hb"])  # 0: the server default.
        self.assertEqual((reply.timeout_seconds, reply.heartbeat_interval_seconds), (300, 149))

    def test_here_now_lists_occupants_and_state(self):
        self.heartbeat("py-bob", ["py-here"])
        self.heartbeat("py-alice", ["py-here"], states={"py-here": struct({"mood": "happy"})})
        reply = self.presence.HereNow(
            pb.HereNowRequest(channels=["py-here", "py-empty"], include_state=True),
            timeout=DEADLINE)
        self.assertEqual((reply.total_channels, reply.total_occupancy), (2, 2))
        empty, here = reply.channels  # Ordered by name.
        self.assertEqual((empty.name, empty.occupancy, len(empty.occupants)), ("py-empty", 0, 0))
        self.assertEqual((here.name, here.occupancy), ("py-here", 2))
        self.assertEqual([user.user_id for user in here.occupants], ["py-alice", "py-bob"])
        self.assertEqual(json_format.MessageToDict(here.occupants[0].state), {"mood": "happy"})
        self.assertFalse(here.occupants[1].HasField("state"))

        counts_only = self.presence.HereNow(
            pb.HereNowRequest(channels=["py-here"], include_user_ids=False), timeout=DEADLINE)
        self.assertEqual(counts_only.channels[0].occupancy, 2)
        self.assertEqual(len(counts_only.channels[0].occupants), 0)

    def test_where_now_is_sorted(self):
        self.heartbeat("py-carol", ["py-where-b", "py-where-a"])
        reply = self.presence.WhereNow(pb.WhereNowRequest(user_id="py-carol"), timeout=DEADLINE)
        self.assertEqual(list(reply.channels), ["py-where-a", "py-where-b"])

    def test_set_and_get_state_round_trip(self):
        state = {"mood": "busy", "level": 3, "away": False, "tags": ["a", "b"],
                 "device": {"os": "linux"}}
        self.heartbeat("py-dave", ["py-state"])
        set_reply = self.presence.SetState(
            pb.SetStateRequest(user_id="py-dave", channels=["py-state"], state=struct(state)),
            timeout=DEADLINE)
        self.assertEqual(list(set_reply.channels), ["py-state"])
        get_reply = self.presence.GetState(
            pb.GetStateRequest(user_id="py-dave", channels=["py-state"]), timeout=DEADLINE)
        self.assertEqual(len(get_reply.states), 1)
        self.assertEqual(get_reply.states[0].channel_name, "py-state")
        self.assertEqual(json_format.MessageToDict(get_reply.states[0].state), state)

    def test_set_state_where_absent_fails_precondition(self):
        self.assert_status(
            grpc.StatusCode.FAILED_PRECONDITION, "py-absent", self.presence.SetState,
            pb.SetStateRequest(user_id="py-erin", channels=["py-absent"], state=struct({"a": 1})))

    def test_leave_returns_channels_left_after_last_session(self):
        self.heartbeat("py-frank", ["py-leave"], session_id="phone")
        self.heartbeat("py-frank", ["py-leave"], session_id="laptop")

        def leave(session):
            return self.presence.Leave(
                pb.LeaveRequest(user_id="py-frank", channels=["py-leave"], session_id=session),
                timeout=DEADLINE)

        self.assertEqual(list(leave("phone").channels), [])  # The laptop is still there.
        self.assertEqual(list(leave("laptop").channels), ["py-leave"])

    def test_batch_heartbeat_answers_each_entry(self):
        batch = self.presence.BatchHeartbeat(
            pb.BatchHeartbeatRequest(entries=[
                pb.BatchEntry(heartbeat=pb.HeartbeatRequest(
                    user_id="py-gina", channels=["py-batch"], timeout_seconds=60)),
                pb.BatchEntry(heartbeat=pb.HeartbeatRequest(
                    user_id="py-gina", channels=["bad channel"])),
                pb.BatchEntry(leave=pb.LeaveRequest(user_id="py-gina", channels=["py-batch"])),
            ]),
            timeout=DEADLINE)
        self.assertEqual(len(batch.results), 3)
        self.assertEqual(batch.results[0].code, 0)
        self.assertEqual(batch.results[0].heartbeat.heartbeat_interval_seconds, 29)
        self.assertEqual(batch.results[1].code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertTrue(batch.results[1].message.startswith("entries[1].heartbeat.channels[0]: "),
                        batch.results[1].message)
        self.assertEqual(list(batch.results[2].leave.channels), ["py-batch"])

    def test_channel_groups(self):
        self.groups.AddChannels(
            groups_pb2.AddChannelsRequest(group="py-group", channels=["py-g2", "py-g1"]),
            timeout=DEADLINE)

        def list_channels():
            return list(self.groups.ListChannels(
                groups_pb2.ListChannelsRequest(group="py-group"), timeout=DEADLINE).channels)

        self.assertEqual(list_channels(), ["py-g1", "py-g2"])
        groups = self.groups.ListGroups(groups_pb2.ListGroupsRequest(), timeout=DEADLINE)
        self.assertIn("py-group", groups.groups)
        self.assertEqual(list(groups.groups), sorted(groups.groups))

        self.groups.RemoveChannels(
            groups_pb2.RemoveChannelsRequest(group="py-group", channels=["py-g1"]),
            timeout=DEADLINE)
        self.assertEqual(list_channels(), ["py-g2"])
        self.groups.DeleteGroup(groups_pb2.DeleteGroupRequest(group="py-group"),
                                timeout=DEADLINE)
        self.assert_status(grpc.StatusCode.NOT_FOUND, "py-group", self.groups.ListChannels,
                           groups_pb2.ListChannelsRequest(group="py-group"))

    def test_invalid_argument_names_the_field(self):
        self.assert_status(grpc.StatusCode.INVALID_ARGUMENT, "channels[1]",
                           self.presence.HereNow, pb.HereNowRequest(channels=["ok", "a,b"]))

    def test_watch_receives_a_join_from_another_client(self):
        events = self.presence.WatchEvents(pb.WatchEventsRequest(channels=["py-watch"]),
                                           timeout=DEADLINE)
        # Blocks until the server has registered the watch.
        self.assertIn(("presence-watch-registered", "1"), events.initial_metadata())
        with grpc.insecure_channel(os.environ["PRESENCE_ADDRESS"]) as other:
            pb_grpc.PresenceServiceStub(other).Heartbeat(
                pb.HeartbeatRequest(user_id="py-gina", channels=["py-watch"],
                                    states={"py-watch": struct({"mood": "happy"})}),
                timeout=DEADLINE)
        active, join = next(events), next(events)
        events.cancel()
        self.assertEqual((active.channel, active.action, active.occupancy),
                         ("py-watch", Action.ACTION_ACTIVE, 1))
        self.assertEqual((join.channel, join.action, join.user_id, join.occupancy),
                         ("py-watch", Action.ACTION_JOIN, "py-gina", 1))
        self.assertEqual(json_format.MessageToDict(join.state), {"mood": "happy"})
        self.assertGreater(join.time.seconds, 0)
        self.assertEqual(join.sequence, active.sequence + 1)


if __name__ == "__main__":
    unittest.main()
