// ServerProcess: the presence_server binary, started as a child process on a
// free port for end-to-end tests.
//
//   ServerProcess server(binary_path, {"--min_timeout_seconds=1"});
//   ASSERT_TRUE(server.Start().ok());
//   auto channel = grpc::CreateChannel(server.address(), ...);
//   int exit_code = server.Terminate();  // SIGTERM, then wait.
//
// The binary's path comes from the test's arguments ($(rootpath ...)), read
// by the main() of server_binary_main.cc: ServerBinaryPath().
#ifndef SERVICE_TESTING_SERVER_PROCESS_H_
#define SERVICE_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace presence {

// Returns the presence_server binary's path given on the command line.
const std::string& ServerBinaryPath();

class ServerProcess {
 public:
  ServerProcess(std::string binary, std::vector<std::string> flags);
  ~ServerProcess();  // Kills the process if it still runs.

  // Starts the binary with --listen_address=127.0.0.1:0 and the flags, and
  // waits (up to `timeout`) for the line that reports the bound address.
  absl::Status Start(absl::Duration timeout = absl::Seconds(30));

  // Returns "127.0.0.1:<port>".
  const std::string& address() const { return address_; }

  // Returns the process id (for /proc readings), or -1 before Start().
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the process; returns its exit status as
  // from waitpid (use WIFEXITED/WEXITSTATUS).
  int Stop(int signal);

  // Returns everything the process wrote to stderr so far.
  std::string Log();

 private:
  void ReadLog(int fd);

  const std::string binary_;
  const std::vector<std::string> flags_;
  pid_t pid_ = -1;
  std::string address_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::string log_;          // Guarded by mu_.
  bool log_closed_ = false;  // Guarded by mu_.
};

}  // namespace presence

#endif  // SERVICE_TESTING_SERVER_PROCESS_H_
