package import BatonCore
package import BatonHTTP
import BatonSupport

/// Domain-typed fields, each failing with a 400 that names the field and the rule.
extension BodyReader {
    package func lease(_ name: String = "lease") throws(Problem) -> LeaseName {
        let s = try string(name, required: true)!
        guard let v = LeaseName(s) else { throw Problem.invalidField(name, "must match \(NameRule.resource.pattern)") }
        return v
    }

    package func task(_ name: String = "task") throws(Problem) -> TaskName {
        let s = try string(name, required: true)!
        guard let v = TaskName(s) else { throw Problem.invalidField(name, "must match \(NameRule.resource.pattern)") }
        return v
    }

    package func holder(_ name: String = "holder") throws(Problem) -> Holder {
        let s = try string(name, required: true)!
        guard let v = Holder(s) else { throw Problem.invalidField(name, "must match \(NameRule.holder.pattern)") }
        return v
    }

    package func slot(_ name: String = "slot") throws(Problem) -> Slot? {
        guard let s = try string(name) else { return nil }
        guard let v = Slot(s) else { throw Problem.invalidField(name, "must be 1 to \(Slot.maxLength) bytes without control characters") }
        return v
    }

    package func runId(_ name: String = "run_id") throws(Problem) -> String {
        let s = try string(name, required: true)!
        guard isUUID(s) else { throw Problem.invalidField(name, "must be a UUID as returned by /tasks/claim") }
        return s.lowercased()
    }

    package func fencingToken(_ name: String = "fencing_token") throws(Problem) -> FencingToken? {
        try int(name, in: 1...Int.max).map { FencingToken(Int64($0)) }
    }

    package func policy(_ name: String = "on_backend_failure") throws(Problem) -> FailurePolicy? {
        guard let s = try string(name) else { return nil }
        guard let p = FailurePolicy(rawValue: s) else { throw Problem.invalidField(name, "must be grant or deny") }
        return p
    }

    package func runStatus(_ name: String = "status") throws(Problem) -> RunStatus {
        let s = try string(name, required: true)!
        guard let v = RunStatus(rawValue: s), v != .running else {
            throw Problem.invalidField(name, "must be succeeded, failed or cancelled")
        }
        return v
    }
}

/// 8-4-4-4-12 hexadecimal digits.
func isUUID(_ s: String) -> Bool {
    let bytes = Array(s.utf8)
    guard bytes.count == 36 else { return false }
    for (i, b) in bytes.enumerated() {
        if i == 8 || i == 13 || i == 18 || i == 23 {
            if b != UInt8(ascii: "-") { return false }
        } else if !((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)) {
            return false
        }
    }
    return true
}

/// Query parameters, validated the same way.
extension HTTPRequest {
    package func queryLimit(default value: Int = 50) throws(Problem) -> Int {
        guard let raw = queryValue("limit") else { return value }
        guard let n = Int(raw), Limits.historyLimit.contains(n) else {
            throw Problem.invalidField("limit", "must be an integer between \(Limits.historyLimit.lowerBound) and \(Limits.historyLimit.upperBound)")
        }
        return n
    }
}
