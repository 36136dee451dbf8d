import KernelSpace
import MoEModel

/// The built-in model's templates (built with its numbers), as the command line lists them.
let catalog = ModelConfig.qwen3MoE30BA3B.kernels

/// The catalog's template with this id.
func catalogTemplate(_ id: String) -> (any KernelTemplate)? { catalog.first { $0.id == id } }
