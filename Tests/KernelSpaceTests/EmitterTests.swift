import Foundation
import KernelSpace
import Testing

@Suite struct EmitterTests {
    let template = LinearTemplate()

    /// Names the emitter may use, from the fixture that mirrors shared/reference/nki.md.
    static let allowedNames: Set<String> = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/nki-names.txt")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty })
    }()

    static func namesUsed(_ source: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: #"\b(?:nki|nl|nisa)(?:\.[A-Za-z_][A-Za-z0-9_]*)+"#)
        let range = NSRange(source.startIndex..., in: source)
        let lines = source.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix("import") }.joined(
            separator: "\n")
        _ = range
        let body = NSRange(lines.startIndex..., in: lines)
        return Set(
            regex.matches(in: lines, range: body).compactMap { Range($0.range, in: lines).map { String(lines[$0]) } })
    }

    @Test func fixtureNamesAreDocumented() throws {
        #expect(Self.allowedNames.count > 20)
        let reference = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/reference/nki.md").standardized
        guard let documentation = try? String(contentsOf: reference, encoding: .utf8) else { return }
        for name in Self.allowedNames {
            let parts = name.split(separator: ".").map(String.init)
            // An enum member (`nisa.oob_mode.skip`) counts when nki.md names the enum and every
            // release's API table lists the member.
            let member =
                parts.count == 3 && documentation.contains(parts[1])
                && NKIRelease.allCases.allSatisfy { Self.apiClass(parts[0], parts[1], release: $0).contains(parts[2]) }
            #expect(documentation.contains(parts.last!) || member, "\(name) is not in nki.md")
        }
    }

    /// The members of class `name` of `module` in `release`'s API table (empty when absent).
    static func apiClass(_ module: String, _ name: String, release: NKIRelease) -> [String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/nki-api/\(release.rawValue).json")
        guard let data = try? Data(contentsOf: url),
            let table = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let modules = table["modules"] as? [String: Any], let entry = modules[module] as? [String: Any],
            let classes = entry["classes"] as? [String: Any]
        else { return [] }
        return classes[name] as? [String] ?? []
    }

    @Test func emittedKernelsCompileAndUseDocumentedNames() throws {
        let problems = ["M=640,K=2048,N=768", "M=100,K=130,N=300,act=silu", "M=64,K=256,N=512,dtype=fp32"]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nkitune-emit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        var used = Set<String>()
        let space = SearchSpace(template)
        for (offset, text) in problems.enumerated() {
            let problem = try template.parseProblem(text)
            for configuration in validConfigurations(space, problem, limit: 40, seed: UInt64(offset + 11)) {
                let program = template.program(for: problem, configuration: configuration)
                let source = NKIEmitter.emit(
                    program, header: ["template: linear", "configuration: \(configuration.key)"])
                #expect(source.hasPrefix("# template: linear\n# configuration: \(configuration.key)\n"))
                used.formUnion(Self.namesUsed(source))
                let file = directory.appendingPathComponent("k\(files.count).py").path
                try source.write(toFile: file, atomically: true, encoding: .utf8)
                files.append(file)
            }
        }
        #expect(files.count >= 100)
        #expect(
            used.subtracting(Self.allowedNames).isEmpty, "undocumented names: \(used.subtracting(Self.allowedNames))")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "py_compile"] + files
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let message = String(data: errors.fileHandleForReading.readDataToEndOfFile(), encoding: .utf8) ?? ""
        #expect(process.terminationStatus == 0, "py_compile: \(message)")
    }

    @Test func exactRenderingOfASmallKernel() throws {
        let problem = try template.parseProblem("M=128,K=128,N=512")
        let source = NKIEmitter.emit(
            template.program(for: problem, configuration: template.defaultConfiguration), header: [])
        let expected = """
            # dialect: NKI Beta 2 (Neuron SDK 2.27); generated by nkitune, do not edit
            import nki
            import nki.isa as nisa
            import nki.language as nl


            @nki.jit
            def linear_kernel(xT, w):
                y = nl.ndarray((128, 512), dtype=nl.bfloat16, buffer=nl.shared_hbm)
                for mb in nl.affine_range(1):
                    for nb in nl.affine_range(1):
                        for kb in nl.affine_range(1):
                            x_block = nl.ndarray((128, 1, 128), dtype=nl.bfloat16, buffer=nl.sbuf)  # 2 rotating copies
                            for lk in nl.affine_range(1):
                                nisa.dma_copy(dst=x_block[0:128, lk, 0:128], src=xT[kb * 128 + lk * 128:kb * 128 + lk * 128 + 128, mb * 128:mb * 128 + 128])
                            w_block = nl.ndarray((128, 1, 512), dtype=nl.bfloat16, buffer=nl.sbuf)  # 2 rotating copies
                            for wk in nl.affine_range(1):
                                nisa.dma_copy(dst=w_block[0:128, wk, 0:512], src=w[kb * 128 + wk * 128:kb * 128 + wk * 128 + 128, nb * 512:nb * 512 + 512])
                            for tm in nl.affine_range(1):
                                for tn in nl.affine_range(1):
                                    acc_psum = nl.zeros((128, 512), dtype=nl.float32, buffer=nl.psum)  # 4 rotating copies
                                    for tk in nl.affine_range(1):
                                        nisa.nc_matmul(dst=acc_psum, stationary=x_block[0:128, tk, tm * 128:tm * 128 + 128], moving=w_block[0:128, tk, tn * 512:tn * 512 + 512])
                                    y_tile = nl.ndarray((128, 512), dtype=nl.bfloat16, buffer=nl.sbuf)  # 2 rotating copies
                                    nisa.tensor_copy(dst=y_tile, src=acc_psum, engine=nisa.engine.vector)
                                    nisa.dma_copy(dst=y[mb * 128 + tm * 128:mb * 128 + tm * 128 + 128, nb * 512 + tn * 512:nb * 512 + tn * 512 + 512], src=y_tile)
                return y

            """
        #expect(source == expected)
    }
}
