import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a child process ended.
public enum ChildOutcome: Sendable, Equatable {
    /// It exited with this code.
    case exited(Int32)
    /// A signal ended it (a crash, or a kill from outside).
    case signalled(Int32)
    /// It ran past its time limit; its whole process group was killed.
    case timedOut
    /// It could not be started; why.
    case launchFailed(String)

    /// Whether it exited with code 0.
    public var succeeded: Bool { self == .exited(0) }

    /// A few words for a log or a failure reason.
    public var summary: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .signalled(let signal): "killed by signal \(signal)"
        case .timedOut: "timed out"
        case .launchFailed(let reason): "could not start: \(reason)"
        }
    }
}

/// Runs a program in its own process group with a time limit, its output (standard output and
/// error together) going to a log file.
///
/// A time-out kills the whole group, so a compiler's or runtime's children go with it; after a
/// normal exit the group is killed too, so nothing the child left behind outlives it. The output
/// goes to a file rather than a pipe: a grandchild that keeps a pipe open would keep the reader
/// waiting after the child is gone. The call blocks its thread (the driver's evaluating threads
/// are its own, never Swift concurrency's pool), which is why it spawns and waits with POSIX calls
/// rather than an async process library.
///
/// ```swift
/// let outcome = ChildProcess.run(
///     "/usr/bin/python3", arguments: ["harness.py", "probe"], log: "/tmp/probe.log", timeLimit: .seconds(60))
/// ```
public enum ChildProcess {
    /// Runs `executable` (a path, or a name looked up on `PATH`) with `environment` added to this
    /// process's, and waits for it, at most `timeLimit`.
    public static func run(
        _ executable: String, arguments: [String], environment: [String: String] = [:], log: String,
        timeLimit: Duration
    ) -> ChildOutcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A new process group led by the child, so `kill(-pid, ...)` reaches everything it starts;
        // default signal handling and an empty mask, whatever this process set for itself.
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            return .launchFailed("\(executable): \(String(cString: strerror(spawned)))")
        }
        let deadline = ContinuousClock.now + timeLimit
        var status: Int32 = 0
        var pause: UInt32 = 1000
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR { return .launchFailed("waitpid: \(String(cString: strerror(errno)))") }
            if ContinuousClock.now >= deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                reap(pid)
                return .timedOut
            }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
        reap(pid)
        // The wait status: the low 7 bits hold the signal that ended the child, or 0 for an exit
        // whose code is in the next 8 bits.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }
    /// The last `lines` lines of a log file (at most 4 KiB of it), for a failure reason.
    public static func tail(of log: String, lines: Int = 12) -> String {
        guard let handle = FileHandle(forReadingAtPath: log) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }

    /// Whether any process of the group `group` is still running (zombies waiting for a parent that
    /// does not reap them do not count: they hold nothing).
    public static func groupIsAlive(_ group: pid_t) -> Bool {
        guard kill(-group, 0) == 0 || errno == EPERM else { return false }
        #if os(Linux)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return true }
            for entry in entries where entry.first?.isNumber == true {
                // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
                guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 2, fields[2] == "\(group)", fields[0] != "Z" { return true }
            }
            return false
        #else
            return true
        #endif
    }

    /// Kills what is left of a finished child's process group and waits (up to 5 s) until it is gone.
    private static func reap(_ group: pid_t) {
        guard groupIsAlive(group) else { return }
        kill(-group, SIGKILL)
        for _ in 0..<100 where groupIsAlive(group) { usleep(50_000) }
    }
}
