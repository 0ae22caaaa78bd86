// Command presence-example calls every RPC of the presence service once and
// prints what it answers.
//
// Generate the stubs into a GOPATH, then build in GOPATH mode with Debian's
// Go packages (golang-google-grpc-dev, golang-google-protobuf-dev,
// golang-github-golang-protobuf-1-5-dev):
//
//	client/gen_stubs.sh go /tmp/presence-go
//	GO111MODULE=off GOPATH=/tmp/presence-go:/usr/share/gocode go run ./client/go -address 127.0.0.1:50051
//
// Against a server with TLS (--tls_cert_file) and tokens (--auth=token), add
// -ca_cert ca.crt [-cert client.crt -key client.key] -token TOKEN; the token
// is sent as "authorization: Bearer <token>" metadata, over TLS only.
//
// It exits non-zero, printing the gRPC status code and message, when a call
// fails unexpectedly.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"io/ioutil"
	"strings"
	"time"

	pb "github.com/presence-service/presence/gen/go/presence/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// callTimeout is every unary call's deadline: a stuck server must not hang us.
const callTimeout = 5 * time.Second

func main() {
	address := flag.String("address", "127.0.0.1:50051", "host:port of the presence service")
	watch := flag.Duration("watch", time.Second, "how long to watch lobby's events")
	caCert := flag.String("ca_cert", "", "PEM CA of the server's certificate (TLS)")
	cert := flag.String("cert", "", "PEM client certificate (mutual TLS)")
	key := flag.String("key", "", "PEM key of -cert")
	token := flag.String("token", "", "access token (TLS only)")
	flag.Parse()

	// grpc-go 1.33 (Debian 12) predates insecure.NewCredentials.
	transport := grpc.WithInsecure()
	if *caCert != "" || *cert != "" || *token != "" {
		transport = grpc.WithTransportCredentials(tlsCredentials(*caCert, *cert, *key))
	}
	options := []grpc.DialOption{transport, grpc.WithUnaryInterceptor(withDeadline)}
	if *token != "" {
		options = append(options, grpc.WithPerRPCCredentials(bearer(*token)))
	}
	conn, err := grpc.Dial(*address, options...)
	check(err)
	defer conn.Close()
	ctx := context.Background()
	presenceCalls(ctx, pb.NewPresenceServiceClient(conn), *watch)
	channelGroupCalls(ctx, pb.NewChannelGroupServiceClient(conn))
}

// tlsCredentials verifies the server with caFile (empty: the system's roots)
// and presents certFile and keyFile when given (mutual TLS).
func tlsCredentials(caFile, certFile, keyFile string) credentials.TransportCredentials {
	config := &tls.Config{}
	if caFile != "" {
		pem, err := ioutil.ReadFile(caFile)
		check(err)
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			check(fmt.Errorf("no certificate in %s", caFile))
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		check(err)
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config)
}

// bearer sends an access token with every call.
type bearer string

func (b bearer) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity keeps the token off plaintext connections.
func (b bearer) RequireTransportSecurity() bool { return true }

// withDeadline gives every unary call its own deadline of callTimeout.
func withDeadline(ctx context.Context, method string, req, reply interface{},
	cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func presenceCalls(ctx context.Context, presence pb.PresenceServiceClient, watch time.Duration) {
	mood, err := structpb.NewStruct(map[string]interface{}{"mood": "happy"})
	check(err)
	beat, err := presence.Heartbeat(ctx, &pb.HeartbeatRequest{
		UserId: "alice", Channels: []string{"lobby"}, SessionId: "tab-1",
		TimeoutSeconds: 60, States: map[string]*structpb.Struct{"lobby": mood},
	})
	check(err)
	fmt.Printf("heartbeat: timeout %ds, send the next one within %ds\n",
		beat.TimeoutSeconds, beat.HeartbeatIntervalSeconds)

	here, err := presence.HereNow(ctx, &pb.HereNowRequest{Channels: []string{"lobby"}, IncludeState: true})
	check(err)
	for _, channel := range here.Channels {
		var occupants []string
		for _, user := range channel.Occupants {
			if user.State != nil {
				occupants = append(occupants, user.UserId+" "+toJSON(user.State))
			} else {
				occupants = append(occupants, user.UserId)
			}
		}
		fmt.Printf("%s: %d occupant(s): %s\n", channel.Name, channel.Occupancy, strings.Join(occupants, ", "))
	}

	where, err := presence.WhereNow(ctx, &pb.WhereNowRequest{UserId: "alice"})
	check(err)
	fmt.Printf("alice is in: %s\n", strings.Join(where.Channels, ", "))

	busy, err := structpb.NewStruct(map[string]interface{}{"mood": "busy"})
	check(err)
	set, err := presence.SetState(ctx, &pb.SetStateRequest{UserId: "alice", Channels: []string{"lobby"}, State: busy})
	check(err)
	fmt.Printf("state set on %s: %s\n", strings.Join(set.Channels, ", "), toJSON(set.State))

	got, err := presence.GetState(ctx, &pb.GetStateRequest{UserId: "alice", Channels: []string{"lobby"}})
	check(err)
	for _, info := range got.States {
		fmt.Printf("alice's state on %s: %s\n", info.ChannelName, toJSON(info.State))
	}

	watchEvents(ctx, presence, watch)

	left, err := presence.Leave(ctx, &pb.LeaveRequest{UserId: "alice", Channels: []string{"lobby"}, SessionId: "tab-1"})
	check(err)
	fmt.Printf("alice left: %s\n", strings.Join(left.Channels, ", "))

	// Many users at once (an edge service's heartbeats): one result per entry.
	batch, err := presence.BatchHeartbeat(ctx, &pb.BatchHeartbeatRequest{Entries: []*pb.BatchEntry{
		{Entry: &pb.BatchEntry_Heartbeat{Heartbeat: &pb.HeartbeatRequest{UserId: "carol", Channels: []string{"hall"}}}},
		{Entry: &pb.BatchEntry_Heartbeat{Heartbeat: &pb.HeartbeatRequest{UserId: "dave", Channels: []string{"bad channel"}}}},
		{Entry: &pb.BatchEntry_Leave{Leave: &pb.LeaveRequest{UserId: "carol", Channels: []string{"hall"}}}},
	}})
	check(err)
	for i, result := range batch.Results {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("batch entry %d: %s %s", i, codes.Code(result.Code), result.Message)))
	}
}

// watchEvents prints lobby's events for the watch duration, while bob joins
// and leaves.
func watchEvents(ctx context.Context, presence pb.PresenceServiceClient, watch time.Duration) {
	// The interceptor covers unary calls only: the stream gets its own
	// deadline, which is how this watch ends.
	watchCtx, cancel := context.WithTimeout(ctx, watch)
	defer cancel()
	stream, err := presence.WatchEvents(watchCtx, &pb.WatchEventsRequest{Channels: []string{"lobby"}})
	check(err)
	// The watch is registered when the server sends its initial metadata
	// (Header blocks until then): changes made after that are delivered,
	// earlier ones are not.
	header, err := stream.Header()
	check(err)
	fmt.Printf("watching lobby for %s (registered: %s)\n", watch,
		strings.Join(header.Get("presence-watch-registered"), ","))

	_, err = presence.Heartbeat(ctx, &pb.HeartbeatRequest{UserId: "bob", Channels: []string{"lobby"}})
	check(err)
	_, err = presence.Leave(ctx, &pb.LeaveRequest{UserId: "bob", Channels: []string{"lobby"}})
	check(err)

	for {
		event, err := stream.Recv()
		if status.Code(err) == codes.DeadlineExceeded || err == io.EOF {
			return
		}
		check(err)
		fmt.Printf("  event: %s %s %s (occupancy %d, sequence %d)\n",
			event.Channel, event.Action, event.UserId, event.Occupancy, event.Sequence)
	}
}

func channelGroupCalls(ctx context.Context, groups pb.ChannelGroupServiceClient) {
	_, err := groups.AddChannels(ctx, &pb.AddChannelsRequest{Group: "friends", Channels: []string{"alice-room", "bob-room"}})
	check(err)
	listed, err := groups.ListChannels(ctx, &pb.ListChannelsRequest{Group: "friends"})
	check(err)
	fmt.Printf("friends: %s\n", strings.Join(listed.Channels, ", "))
	all, err := groups.ListGroups(ctx, &pb.ListGroupsRequest{})
	check(err)
	fmt.Printf("groups: %s\n", strings.Join(all.Groups, ", "))
	_, err = groups.RemoveChannels(ctx, &pb.RemoveChannelsRequest{Group: "friends", Channels: []string{"bob-room"}})
	check(err)
	listed, err = groups.ListChannels(ctx, &pb.ListChannelsRequest{Group: "friends"})
	check(err)
	fmt.Printf("friends after removing bob-room: %s\n", strings.Join(listed.Channels, ", "))
	_, err = groups.DeleteGroup(ctx, &pb.DeleteGroupRequest{Group: "friends"})
	check(err)

	_, err = groups.ListChannels(ctx, &pb.ListChannelsRequest{Group: "friends"})
	if status.Code(err) != codes.NotFound {
		fmt.Fprintf(os.Stderr, "error: friends still listed after DeleteGroup (%v)\n", err)
		os.Exit(1)
	}
	fmt.Printf("friends deleted: %s: %s\n", status.Code(err), status.Convert(err).Message())
}

// toJSON renders a state as compact JSON, with sorted keys.
func toJSON(state *structpb.Struct) string {
	text, err := json.Marshal(state.AsMap())
	check(err)
	return string(text)
}

// check exits with the gRPC status code and message of an unexpected error.
func check(err error) {
	if err != nil {
		s := status.Convert(err)
		fmt.Fprintf(os.Stderr, "error: %s: %s\n", s.Code(), s.Message())
		os.Exit(1)
	}
}
