import Foundation
import Testing

/// The built `nkitune` executable, beside the test bundle.
let nkituneExecutable: String? = {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
        Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
    ]
    return candidates.map { $0.appendingPathComponent("nkitune").path }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// What a finished process did.
struct ProcessResult {
    var status: Int32
    /// Whether it ended by a signal rather than by exiting.
    var signalled: Bool
    var output: String
    var error: String

    /// Standard error's non-empty lines.
    var errorLines: [String] { error.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }
}

/// A running process, with its output collected in files (no pipe can fill up and block it).
final class RunningProcess {
    let process = Process()
    let outputPath: String
    let errorPath: String

    init(_ executable: String, _ arguments: [String], in directory: String) throws {
        let id = UUID().uuidString
        outputPath = directory + "/.out-\(id)"
        errorPath = directory + "/.err-\(id)"
        for path in [outputPath, errorPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Standard error so far.
    var errorSoFar: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Sends `number` `delay` seconds after the run's first line ("tuning ..."), printed once
    /// Ctrl-C is handled (a loaded machine may take a while to start the process), and waits.
    func signal(_ number: Int32, afterStartBy delay: Double) -> ProcessResult {
        let started = Date()
        while !errorSoFar.contains("tuning ") && Date().timeIntervalSince(started) < 60 {
            Thread.sleep(forTimeInterval: 0.01)
        }
        Thread.sleep(forTimeInterval: delay)
        signal(number)
        return wait()
    }

    /// Waits up to `seconds` (then kills it) and returns what it did.
    func wait(seconds: Double = 300) -> ProcessResult {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let error = errorSoFar
        try? FileManager.default.removeItem(atPath: outputPath)
        try? FileManager.default.removeItem(atPath: errorPath)
        return ProcessResult(
            status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
            output: output, error: error)
    }
}

/// Runs the real `nkitune` to completion in `directory`.
func runTool(_ arguments: [String], in directory: String, seconds: Double = 300) throws -> ProcessResult {
    let executable = try #require(nkituneExecutable, "the nkitune executable was not found beside the tests")
    return try RunningProcess(executable, arguments, in: directory).wait(seconds: seconds)
}

/// Runs a shell command line (for redirections the Process API cannot express).
func runShell(_ script: String, in directory: String) throws -> ProcessResult {
    try RunningProcess("/bin/sh", ["-c", script], in: directory).wait()
}

/// A fresh empty directory.
func scratchDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("nkitune-faults-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The bytes of a file (empty when it does not exist).
func fileBytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }
