/// Baton's version, shown in `/status`, `/metrics` and `--version`.
public enum BatonVersion {
    public static let current = "0.1.0"
}
