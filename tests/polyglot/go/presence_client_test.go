// The presence service through Go's generated stubs (grpc-go).
//
// Run by tests/polyglot/go_client_test.sh, which starts the server, sets
// PRESENCE_ADDRESS, and runs `go test` in GOPATH mode with the stubs of
// client/gen_stubs.sh go. Each test uses its own channel names: the tests
// share one server.
package presence_test

import (
	"context"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	pb "github.com/presence-service/presence/gen/go/presence/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

const deadline = 5 * time.Second

var (
	presence pb.PresenceServiceClient
	groups   pb.ChannelGroupServiceClient
)

func dial(t testing.TB) *grpc.ClientConn {
	conn, err := grpc.Dial(os.Getenv("PRESENCE_ADDRESS"), grpc.WithInsecure())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return conn
}

func TestMain(m *testing.M) {
	if os.Getenv("PRESENCE_ADDRESS") == "" {
		panic("PRESENCE_ADDRESS is not set: run tests/polyglot/go_client_test.sh")
	}
	conn, err := grpc.Dial(os.Getenv("PRESENCE_ADDRESS"), grpc.WithInsecure())
	if err != nil {
		panic(err)
	}
	presence = pb.NewPresenceServiceClient(conn)
	groups = pb.NewChannelGroupServiceClient(conn)
	code := m.Run()
	conn.Close()
	os.Exit(code)
}

func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

func newStruct(t *testing.T, values map[string]interface{}) *structpb.Struct {
	s, err := structpb.NewStruct(values)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func heartbeat(t *testing.T, request *pb.HeartbeatRequest) *pb.HeartbeatResponse {
	t.Helper()
	reply, err := presence.Heartbeat(callContext(t), request)
	if err != nil {
		t.Fatalf("Heartbeat(%v): %v", request, err)
	}
	return reply
}

func expectStatus(t *testing.T, err error, code codes.Code, text string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), text) {
		t.Errorf("got error %v, want %s naming %q", err, code, text)
	}
}

func TestHeartbeatAnswersTimeoutAndInterval(t *testing.T) {
	reply := heartbeat(t, &pb.HeartbeatRequest{UserId: "go-alice", Channels: []string{"go-hb"}, TimeoutSeconds: 60, SessionId: "tab-1"})
	if reply.TimeoutSeconds != 60 || reply.HeartbeatIntervalSeconds != 29 {
		t.Errorf("timeout 60: got %v, want 60 and interval 29", reply)
	}
	reply = heartbeat(t, &pb.HeartbeatRequest{UserId: "go-alice", Channels: []string{"go-hb"}})
	if reply.TimeoutSeconds != 300 || reply.HeartbeatIntervalSeconds != 149 {
		t.Errorf("timeout 0: got %v, want the default 300 and interval 149", reply)
	}
}

func TestHereNowListsOccupantsAndState(t *testing.T) {
	heartbeat(t, &pb.HeartbeatRequest{UserId: "go-bob", Channels: []string{"go-here"}})
	heartbeat(t, &pb.HeartbeatRequest{UserId: "go-alice", Channels: []string{"go-here"},
		States: map[string]*structpb.Struct{"go-here": newStruct(t, map[string]interface{}{"mood": "happy"})}})
	reply, err := presence.HereNow(callContext(t), &pb.HereNowRequest{Channels: []string{"go-here", "go-empty"}, IncludeState: true})
	if err != nil {
		t.Fatal(err)
	}
	if reply.TotalChannels != 2 || reply.TotalOccupancy != 2 || len(reply.Channels) != 2 {
		t.Fatalf("got %v, want 2 channels with 2 occupants in all", reply)
	}
	empty, here := reply.Channels[0], reply.Channels[1] // Ordered by name.
	if empty.Name != "go-empty" || empty.Occupancy != 0 || len(empty.Occupants) != 0 {
		t.Errorf("got %v, want go-empty with no occupant", empty)
	}
	if here.Name != "go-here" || here.Occupancy != 2 || len(here.Occupants) != 2 ||
		here.Occupants[0].UserId != "go-alice" || here.Occupants[1].UserId != "go-bob" {
		t.Fatalf("got %v, want go-here with go-alice and go-bob", here)
	}
	if got := here.Occupants[0].State.AsMap(); !reflect.DeepEqual(got, map[string]interface{}{"mood": "happy"}) {
		t.Errorf("alice's state: got %v", got)
	}
	if here.Occupants[1].State != nil {
		t.Errorf("bob has no state, got %v", here.Occupants[1].State)
	}

	noUsers := false
	counts, err := presence.HereNow(callContext(t), &pb.HereNowRequest{Channels: []string{"go-here"}, IncludeUserIds: &noUsers})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Channels[0].Occupancy != 2 || len(counts.Channels[0].Occupants) != 0 {
		t.Errorf("include_user_ids false: got %v, want occupancy 2 and no occupants", counts.Channels[0])
	}
}

func TestWhereNowIsSorted(t *testing.T) {
	heartbeat(t, &pb.HeartbeatRequest{UserId: "go-carol", Channels: []string{"go-where-b", "go-where-a"}})
	reply, err := presence.WhereNow(callContext(t), &pb.WhereNowRequest{UserId: "go-carol"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"go-where-a", "go-where-b"}; !reflect.DeepEqual(reply.Channels, want) {
		t.Errorf("got %v, want %v", reply.Channels, want)
	}
}

func TestSetAndGetStateRoundTrip(t *testing.T) {
	state := map[string]interface{}{"mood": "busy", "level": 3.0, "away": false,
		"tags": []interface{}{"a", "b"}, "device": map[string]interface{}{"os": "linux"}}
	heartbeat(t, &pb.HeartbeatRequest{UserId: "go-dave", Channels: []string{"go-state"}})
	set, err := presence.SetState(callContext(t), &pb.SetStateRequest{UserId: "go-dave", Channels: []string{"go-state"}, State: newStruct(t, state)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set.Channels, []string{"go-state"}) {
		t.Errorf("SetState channels: got %v", set.Channels)
	}
	got, err := presence.GetState(callContext(t), &pb.GetStateRequest{UserId: "go-dave", Channels: []string{"go-state"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.States) != 1 || got.States[0].ChannelName != "go-state" || !reflect.DeepEqual(got.States[0].State.AsMap(), state) {
		t.Errorf("GetState: got %v, want %v on go-state", got.States, state)
	}
}

func TestSetStateWhereAbsentFailsPrecondition(t *testing.T) {
	_, err := presence.SetState(callContext(t), &pb.SetStateRequest{UserId: "go-erin", Channels: []string{"go-absent"},
		State: newStruct(t, map[string]interface{}{"a": 1.0})})
	expectStatus(t, err, codes.FailedPrecondition, "go-absent")
}

func TestLeaveReturnsChannelsLeftAfterLastSession(t *testing.T) {
	for _, session := range []string{"phone", "laptop"} {
		heartbeat(t, &pb.HeartbeatRequest{UserId: "go-frank", Channels: []string{"go-leave"}, SessionId: session})
	}
	for _, step := range []struct {
		session string
		left    []string
	}{{"phone", nil}, {"laptop", []string{"go-leave"}}} { // The laptop stays after the phone leaves.
		reply, err := presence.Leave(callContext(t), &pb.LeaveRequest{UserId: "go-frank", Channels: []string{"go-leave"}, SessionId: step.session})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(reply.Channels, step.left) {
			t.Errorf("Leave %s: got %v, want %v", step.session, reply.Channels, step.left)
		}
	}
}

func TestBatchHeartbeatAnswersEachEntry(t *testing.T) {
	batch, err := presence.BatchHeartbeat(callContext(t), &pb.BatchHeartbeatRequest{Entries: []*pb.BatchEntry{
		{Entry: &pb.BatchEntry_Heartbeat{Heartbeat: &pb.HeartbeatRequest{UserId: "go-gina", Channels: []string{"go-batch"}, TimeoutSeconds: 60}}},
		{Entry: &pb.BatchEntry_Heartbeat{Heartbeat: &pb.HeartbeatRequest{UserId: "go-gina", Channels: []string{"bad channel"}}}},
		{Entry: &pb.BatchEntry_Leave{Leave: &pb.LeaveRequest{UserId: "go-gina", Channels: []string{"go-batch"}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Results) != 3 {
		t.Fatalf("got %d results, want 3", len(batch.Results))
	}
	if r := batch.Results[0]; r.Code != 0 || r.GetHeartbeat().GetHeartbeatIntervalSeconds() != 29 {
		t.Errorf("entry 0: got %v", r)
	}
	if r := batch.Results[1]; codes.Code(r.Code) != codes.InvalidArgument || !strings.HasPrefix(r.Message, "entries[1].heartbeat.channels[0]: ") {
		t.Errorf("entry 1: got %v", r)
	}
	if r := batch.Results[2]; !reflect.DeepEqual(r.GetLeave().GetChannels(), []string{"go-batch"}) {
		t.Errorf("entry 2: got %v", r)
	}
}

func TestChannelGroups(t *testing.T) {
	ctx := callContext(t)
	if _, err := groups.AddChannels(ctx, &pb.AddChannelsRequest{Group: "go-group", Channels: []string{"go-g2", "go-g1"}}); err != nil {
		t.Fatal(err)
	}
	expectChannels := func(want []string) {
		t.Helper()
		reply, err := groups.ListChannels(ctx, &pb.ListChannelsRequest{Group: "go-group"})
		if err != nil || !reflect.DeepEqual(reply.Channels, want) {
			t.Errorf("ListChannels: got %v, %v; want %v", reply.GetChannels(), err, want)
		}
	}
	expectChannels([]string{"go-g1", "go-g2"})
	all, err := groups.ListGroups(ctx, &pb.ListGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if i := sort.SearchStrings(all.Groups, "go-group"); !sort.StringsAreSorted(all.Groups) || i == len(all.Groups) || all.Groups[i] != "go-group" {
		t.Errorf("ListGroups: got %v, want a sorted list with go-group", all.Groups)
	}

	if _, err := groups.RemoveChannels(ctx, &pb.RemoveChannelsRequest{Group: "go-group", Channels: []string{"go-g1"}}); err != nil {
		t.Fatal(err)
	}
	expectChannels([]string{"go-g2"})
	if _, err := groups.DeleteGroup(ctx, &pb.DeleteGroupRequest{Group: "go-group"}); err != nil {
		t.Fatal(err)
	}
	_, err = groups.ListChannels(ctx, &pb.ListChannelsRequest{Group: "go-group"})
	expectStatus(t, err, codes.NotFound, "go-group")
}

func TestInvalidArgumentNamesTheField(t *testing.T) {
	_, err := presence.HereNow(callContext(t), &pb.HereNowRequest{Channels: []string{"ok", "a,b"}})
	expectStatus(t, err, codes.InvalidArgument, "channels[1]")
}

func TestWatchReceivesAJoinFromAnotherClient(t *testing.T) {
	stream, err := presence.WatchEvents(callContext(t), &pb.WatchEventsRequest{Channels: []string{"go-watch"}})
	if err != nil {
		t.Fatal(err)
	}
	// Header blocks until the server has registered the watch.
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	if got := header.Get("presence-watch-registered"); !reflect.DeepEqual(got, []string{"1"}) {
		t.Fatalf("presence-watch-registered: got %v, want [1]", got)
	}

	other := dial(t)
	defer other.Close()
	_, err = pb.NewPresenceServiceClient(other).Heartbeat(callContext(t), &pb.HeartbeatRequest{UserId: "go-gina", Channels: []string{"go-watch"},
		States: map[string]*structpb.Struct{"go-watch": newStruct(t, map[string]interface{}{"mood": "happy"})}})
	if err != nil {
		t.Fatal(err)
	}

	active, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	join, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if active.Channel != "go-watch" || active.Action != pb.WatchEventsResponse_ACTION_ACTIVE || active.Occupancy != 1 {
		t.Errorf("first event: got %v, want go-watch ACTION_ACTIVE occupancy 1", active)
	}
	if join.Channel != "go-watch" || join.Action != pb.WatchEventsResponse_ACTION_JOIN || join.UserId != "go-gina" || join.Occupancy != 1 {
		t.Errorf("second event: got %v, want go-watch ACTION_JOIN go-gina occupancy 1", join)
	}
	if got := join.State.AsMap(); !reflect.DeepEqual(got, map[string]interface{}{"mood": "happy"}) {
		t.Errorf("join state: got %v", got)
	}
	if join.Time.GetSeconds() <= 0 || join.Sequence != active.Sequence+1 {
		t.Errorf("join time %v, sequence %d after %d: want a time and the next sequence", join.Time, join.Sequence, active.Sequence)
	}
}
