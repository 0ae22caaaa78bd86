"""Calls every RPC of the presence service once, printing what it answers.

Generate the stubs first, then put them on the path:

    client/gen_stubs.sh python /tmp/presence-py
    PYTHONPATH=/tmp/presence-py /usr/bin/python3 client/python/presence_example.py \
        --address 127.0.0.1:50051

Against a server with TLS (--tls_cert_file) and tokens (--auth=token), add
--ca_cert ca.crt [--cert client.crt --key client.key] --token TOKEN; the token
is sent as "authorization: Bearer <token>" metadata, over TLS only.

Exits non-zero, printing the gRPC status code and message, when a call fails
unexpectedly.
"""

import argparse
import json
import sys

import grpc
from google.protobuf import json_format, struct_pb2

from presence.v1 import channel_group_pb2, channel_group_pb2_grpc
from presence.v1 import presence_pb2, presence_pb2_grpc

DEADLINE_SECONDS = 5  # Every call gets one: a stuck server must not hang us.


def struct(values):
    """A google.protobuf.Struct (a JSON object) from a dict."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


def to_json(message):
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def presence_calls(presence, watch_seconds):
    reply = presence.Heartbeat(
        presence_pb2.HeartbeatRequest(
            user_id="alice",
            channels=["lobby"],
            session_id="tab-1",
            timeout_seconds=60,
            states={"lobby": struct({"mood": "happy"})},
        ),
        timeout=DEADLINE_SECONDS,
    )
    print(f"heartbeat: timeout {reply.timeout_seconds}s, "
          f"send the next one within {reply.heartbeat_interval_seconds}s")

    here = presence.HereNow(
        presence_pb2.HereNowRequest(channels=["lobby"], include_state=True),
        timeout=DEADLINE_SECONDS)
    for channel in here.channels:
        occupants = ", ".join(
            f"{user.user_id} {to_json(user.state)}" if user.HasField("state")
            else user.user_id for user in channel.occupants)
        print(f"{channel.name}: {channel.occupancy} occupant(s): {occupants}")

    where = presence.WhereNow(presence_pb2.WhereNowRequest(user_id="alice"),
                              timeout=DEADLINE_SECONDS)
    print(f"alice is in: {', '.join(where.channels)}")

    set_reply = presence.SetState(
        presence_pb2.SetStateRequest(user_id="alice", channels=["lobby"],
                                     state=struct({"mood": "busy"})),
        timeout=DEADLINE_SECONDS)
    print(f"state set on {', '.join(set_reply.channels)}: {to_json(set_reply.state)}")

    get_reply = presence.GetState(
        presence_pb2.GetStateRequest(user_id="alice", channels=["lobby"]),
        timeout=DEADLINE_SECONDS)
    for info in get_reply.states:
        print(f"alice's state on {info.channel_name}: {to_json(info.state)}")

    # The watch is registered when the server sends its initial metadata:
    # changes made after that are delivered, earlier ones are not.
    events = presence.WatchEvents(
        presence_pb2.WatchEventsRequest(channels=["lobby"]), timeout=watch_seconds)
    registered = dict(events.initial_metadata()).get("presence-watch-registered")
    print(f"watching lobby for {watch_seconds:g}s (registered: {registered})")
    presence.Heartbeat(presence_pb2.HeartbeatRequest(user_id="bob", channels=["lobby"]),
                       timeout=DEADLINE_SECONDS)
    presence.Leave(presence_pb2.LeaveRequest(user_id="bob", channels=["lobby"]),
                   timeout=DEADLINE_SECONDS)
    try:
        for event in events:
            action = presence_pb2.WatchEventsResponse.Action.Name(event.action)
            print(f"  event: {event.channel} {action} {event.user_id} "
                  f"(occupancy {event.occupancy}, sequence {event.sequence})")
    except grpc.RpcError as error:
        # The deadline is how this watch ends; anything else is a failure.
        if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise

    left = presence.Leave(
        presence_pb2.LeaveRequest(user_id="alice", channels=["lobby"], session_id="tab-1"),
        timeout=DEADLINE_SECONDS)
    print(f"alice left: {', '.join(left.channels)}")

    # Many users at once (an edge service's heartbeats): one result per entry.
    batch = presence.BatchHeartbeat(
        presence_pb2.BatchHeartbeatRequest(entries=[
            presence_pb2.BatchEntry(heartbeat=presence_pb2.HeartbeatRequest(
                user_id="carol", channels=["hall"])),
            presence_pb2.BatchEntry(heartbeat=presence_pb2.HeartbeatRequest(
                user_id="dave", channels=["bad channel"])),
            presence_pb2.BatchEntry(leave=presence_pb2.LeaveRequest(
                user_id="carol", channels=["hall"])),
        ]),
        timeout=DEADLINE_SECONDS)
    for i, result in enumerate(batch.results):
        outcome = grpc.StatusCode.OK.name if result.code == 0 else next(
            c.name for c in grpc.StatusCode if c.value[0] == result.code)
        print(f"batch entry {i}: {outcome} {result.message}".rstrip())


def channel_group_calls(groups):
    groups.AddChannels(
        channel_group_pb2.AddChannelsRequest(group="friends",
                                             channels=["alice-room", "bob-room"]),
        timeout=DEADLINE_SECONDS)
    listed = groups.ListChannels(channel_group_pb2.ListChannelsRequest(group="friends"),
                                 timeout=DEADLINE_SECONDS)
    print(f"friends: {', '.join(listed.channels)}")
    all_groups = groups.ListGroups(channel_group_pb2.ListGroupsRequest(),
                                   timeout=DEADLINE_SECONDS)
    print(f"groups: {', '.join(all_groups.groups)}")
    groups.RemoveChannels(
        channel_group_pb2.RemoveChannelsRequest(group="friends", channels=["bob-room"]),
        timeout=DEADLINE_SECONDS)
    listed = groups.ListChannels(channel_group_pb2.ListChannelsRequest(group="friends"),
                                 timeout=DEADLINE_SECONDS)
    print(f"friends after removing bob-room: {', '.join(listed.channels)}")
    groups.DeleteGroup(channel_group_pb2.DeleteGroupRequest(group="friends"),
                       timeout=DEADLINE_SECONDS)
    try:
        groups.ListChannels(channel_group_pb2.ListChannelsRequest(group="friends"),
                            timeout=DEADLINE_SECONDS)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
        print(f"friends deleted: {error.code().name}: {error.details()}")
    else:
        raise SystemExit("error: friends is still listed after DeleteGroup")


def read(path):
    with open(path, "rb") as file:
        return file.read()


def open_channel(args):
    """A plaintext channel, or a TLS one (mutual with --cert and --key)."""
    if not (args.ca_cert or args.cert or args.token):
        return grpc.insecure_channel(args.address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca_cert) if args.ca_cert else None,
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None)
    if args.token:
        # Sent with every call as "authorization: Bearer <token>".
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(args.token))
    return grpc.secure_channel(args.address, credentials)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051",
                        help="host:port of the presence service")
    parser.add_argument("--watch_seconds", type=float, default=1,
                        help="how long to watch lobby's events")
    parser.add_argument("--ca_cert", help="PEM CA of the server's certificate (TLS)")
    parser.add_argument("--cert", help="PEM client certificate (mutual TLS)")
    parser.add_argument("--key", help="PEM key of --cert")
    parser.add_argument("--token", help="access token (TLS only)")
    args = parser.parse_args()
    try:
        with open_channel(args) as channel:
            presence_calls(presence_pb2_grpc.PresenceServiceStub(channel), args.watch_seconds)
            channel_group_calls(channel_group_pb2_grpc.ChannelGroupServiceStub(channel))
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
