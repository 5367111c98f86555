import BatonCore
import BatonHTTP
import BatonSupport

/// The incident page's stylesheet and the headers every `/ui` answer carries.
///
/// The page has no script at all and loads nothing: the policy allows exactly one inline
/// stylesheet (by its SHA-256, so no nonce is needed and a stylesheet an attacker injected
/// would not apply), forms posting to this origin, and no framing.
enum PageSecurity {
    static let stylesheet = """
    body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
    header{background:#1f2933;color:#fff;padding:10px 18px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
    header h1{font-size:18px;margin:0}header .meta{color:#c5ccd3;font-size:13px}
    header form{margin-left:auto}header a{color:#9fd3ff}
    main{padding:12px 18px;max-width:1400px}
    section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:0 0 14px;padding:10px 14px}
    h2{font-size:15px;margin:2px 0 8px}
    table{border-collapse:collapse;width:100%;font-size:13px}
    th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eceff2;vertical-align:top}
    th{color:#52606d;font-weight:600}
    td.num{font-variant-numeric:tabular-nums}
    code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
    .ok{color:#1e7b34}.bad{color:#b3261e;font-weight:600}.warn{color:#9a5b00;font-weight:600}.dim{color:#7b8794}
    .pill{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;color:#fff;background:#7b8794}
    .pill.succeeded{background:#2e7d32}.pill.failed{background:#c62828}.pill.cancelled{background:#757575}
    .pill.running{background:#1565c0}.pill.closed{background:#2e7d32}.pill.open{background:#c62828}.pill.half_open{background:#b26a00}
    .pill.late{background:#6a1b9a}.pill.degraded{background:#e65100}.pill.overlap{background:#ad1457}
    .warnings{background:#fff4e5;border-color:#f0c36d}
    .ranges a{margin-right:8px}.ranges a.on{font-weight:700;text-decoration:none;color:#fff;border-bottom:2px solid #9fd3ff}
    .legend span{margin-right:12px;font-size:12px}
    .tl{width:100%;height:auto;display:block}
    .tl text{font-size:11px;fill:#1b1f24}.tl .axis{fill:#52606d;font-size:10px}
    .tl .grid{stroke:#e4e7eb}.tl .deg{fill:#ffe0b2}.tl .row{fill:#fafbfc}
    .tl .bar{stroke:none}.tl .ov{stroke:#ad1457;stroke-width:2}.tl .lt{stroke:#6a1b9a;stroke-width:2;stroke-dasharray:3 2}
    .tl .mk{fill:#6a1b9a}.tl .lbl{fill:#fff;font-size:10px}
    form.login{max-width:380px;margin:60px auto;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:18px}
    form.login input{width:100%;box-sizing:border-box;padding:6px;margin:6px 0 12px;font:inherit}
    button{font:inherit;padding:4px 12px;cursor:pointer}
    """

    /// `'sha256-…'` of the stylesheet, as CSP wants it.
    static let styleHash = "'sha256-" + Base64.encode(SHA256.hash(Array(stylesheet.utf8)).bytes) + "'"

    static let contentSecurityPolicy =
        "default-src 'none'; style-src \(styleHash); img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// Headers for every page answer (HTML or redirect).
    static func headers(html: Bool) -> [(String, String)] {
        var h: [(String, String)] = [
            ("Content-Security-Policy", contentSecurityPolicy),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            // Not no-referrer: with it, browsers send `Origin: null` on form posts (Fetch,
            // "serializing a request origin"), which the login's CSRF check must refuse.
            // same-origin still sends nothing to other sites.
            ("Referrer-Policy", "same-origin"),
            ("Cache-Control", "no-store"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ]
        if html { h.append(("Content-Type", "text/html; charset=utf-8")) }
        return h
    }

    static func page(_ status: Int, _ html: String, extra: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers(html: true) + extra, body: Array(html.utf8))
    }

    static func redirect(_ location: String, extra: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: 303, headers: headers(html: false) + [("Location", location)] + extra)
    }

    /// The document shell around `body`.
    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <meta name="referrer" content="same-origin"><title>\(HTML.escape(title))</title>
        <style>\(stylesheet)</style></head>
        <body>\(body)</body></html>
        """
    }
}

/// RFC 4648 base64, for the CSP hash.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(n > 1 ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
