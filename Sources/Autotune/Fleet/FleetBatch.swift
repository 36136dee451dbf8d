import Foundation

/// One array task's work, written as JSON into the shared directory: the kernel, problem and
/// target, the configurations (canonical keys), and the token of the round's marker file, which
/// the worker checks to know it sees the same shared directory as the coordinator.
public struct FleetBatch: Codable, Sendable, Equatable {
    /// Format of the file.
    public var format = 1
    /// The round's token, also in `<round>/marker`.
    public var token: String
    /// The template id.
    public var kernel: String
    /// The problem's canonical key.
    public var problem: String
    /// The target's name.
    public var target: String
    /// Configurations to evaluate, as canonical keys.
    public var configurations: [String]

    /// Creates a value with every field given.
    public init(token: String, kernel: String, problem: String, target: String, configurations: [String]) {
        self.token = token
        self.kernel = kernel
        self.problem = problem
        self.target = target
        self.configurations = configurations
    }

    /// The batch file of array task `index` in `round`.
    public static func path(round: String, index: Int) -> String { "\(round)/batch-\(index).json" }
    /// The shard (SQLite cache) array task `index` writes in `round`.
    public static func shard(round: String, index: Int) -> String { "\(round)/shard-\(index).sqlite" }

    /// Reads a batch and checks the round's marker beside it holds the same token: one line naming
    /// the file when it is missing, unreadable, or the shared directory is not the coordinator's.
    public static func read(_ path: String) throws(AutotuneError) -> FleetBatch {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AutotuneError(
                .backend, "fleet batch \(path) is not visible on this host: is the shared directory mounted here?")
        }
        guard let batch = try? JSONDecoder().decode(FleetBatch.self, from: data), batch.format == 1 else {
            throw AutotuneError(.backend, "fleet batch \(path) is not a batch this nkitune reads")
        }
        let marker = (path as NSString).deletingLastPathComponent + "/marker"
        let seen = FileManager.default.contents(atPath: marker).map { String(decoding: $0, as: UTF8.self) }
        guard seen?.trimmingCharacters(in: .whitespacesAndNewlines) == batch.token else {
            throw AutotuneError(
                .backend, "fleet marker \(marker) does not hold the round's token: this host sees another directory")
        }
        return batch
    }
}
