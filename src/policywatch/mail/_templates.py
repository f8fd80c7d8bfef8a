"""The HTML bodies, as Jinja2 sources (autoescaped; styles inline, since mail clients drop
``<style>`` blocks and external sheets).

They live in a module rather than in template files so that the wheel needs no package-data
entry for them. Per-recipient links arrive as opaque placeholders (``unsubscribe``,
``opt_out``) and must each stand on a line of their own: the builder re-encodes only those lines
per recipient and reuses every other encoded byte of the body.
"""

from __future__ import annotations

__all__ = ["CHANGE_HTML", "CONFIRM_HTML"]

_HEAD = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f2;">
<div style="max-width:640px;margin:0 auto;padding:24px 20px;background:#ffffff;\
font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;\
line-height:1.5;color:#1a1a1a;">
"""

_FOOT = """\
</div>
</body>
</html>
"""

_P = "margin:0 0 12px;"
_SMALL = "margin:0 0 4px;font-size:14px;color:#555555;"
_QUOTE = "margin:4px 0 8px;padding:4px 0 4px 12px;border-left:3px solid #d0d0cc;"
_DEL = "background:#fde8e8;color:#8a1c1c;text-decoration:line-through;"
_INS = "background:#e3f6e8;color:#14532d;text-decoration:none;"

CHANGE_HTML = (
    _HEAD
    + f"""\
<h1 style="font-size:20px;line-height:1.3;margin:0 0 12px;">\
{{{{ site }}}} has changed its {{{{ title }}}}</h1>
{{% if material %}}
<p style="{_P}padding:12px;border-left:4px solid #b42318;background:#fef3f2;">\
<strong>This is a material change.</strong> It adds or widens a use of your personal data, \
or narrows your rights and choices. You can object to the new uses: the link is at the end \
of this email.</p>
{{% endif %}}
<p style="{_P}color:#444444;">Recorded {{{{ date }}}}\
{{% if effective %}} &middot; takes effect: <strong>{{{{ effective }}}}</strong>{{% endif %}}</p>
{{% if summary %}}
<p style="{_P}">{{{{ summary }}}}</p>
{{% endif %}}
<h2 style="font-size:17px;margin:20px 0 8px;">What changed</h2>
<ol style="margin:0 0 12px;padding-left:22px;">
{{% for c in clauses %}}
<li style="margin:0 0 16px;">
<p style="margin:0 0 4px;"><strong>{{{{ c.label }}}}</strong>\
{{% if c.section %}} in <em>{{{{ c.section }}}}</em>{{% endif %}}\
{{% if c.material %}} <strong style="color:#b42318;">(material)</strong>{{% endif %}}</p>
{{% if c.categories %}}
<p style="{_SMALL}">About: {{{{ c.categories }}}}</p>
{{% endif %}}
{{% if c.words %}}
<p style="{_QUOTE}">{{{{ c.words }}}}</p>
{{% else %}}
{{% if c.old is not none %}}
<p style="{_SMALL}">{{{{ "Before" if c.new is not none else "Removed text" }}}}:</p>
<p style="{_QUOTE}"><del style="{_DEL}">{{{{ c.old }}}}</del></p>
{{% endif %}}
{{% if c.new is not none %}}
<p style="{_SMALL}">{{{{ "After" if c.old is not none else "Text" }}}}:</p>
<p style="{_QUOTE}">{{% if c.old is none %}}<ins style="{_INS}">{{{{ c.new }}}}</ins>\
{{% else %}}{{{{ c.new }}}}{{% endif %}}</p>
{{% endif %}}
{{% endif %}}
{{% if c.reasons %}}
<p style="{_SMALL}">Why it matters:</p>
<ul style="margin:0 0 4px;padding-left:20px;font-size:14px;">
{{% for r in c.reasons %}}
<li>{{{{ r }}}}</li>
{{% endfor %}}
</ul>
{{% endif %}}
</li>
{{% endfor %}}
</ol>
{{% if more %}}
<p style="{_P}">&hellip; and {{{{ more }}}} more changed clause{{{{ "s" if more != 1 else "" }}}}, \
all in the full comparison.</p>
{{% endif %}}
<p style="margin:20px 0;"><a href="{{{{ diff_url }}}}" style="display:inline-block;\
padding:10px 16px;background:#1f4e8c;color:#ffffff;text-decoration:none;border-radius:4px;">\
See the full comparison</a></p>
<p style="{_P}font-size:14px;">Follow every change of this policy in a feed reader: \
<a href="{{{{ feed_url }}}}" style="color:#1f4e8c;">{{{{ feed_url }}}}</a></p>
{{% if material %}}
<p style="{_P}padding:12px;background:#fef3f2;">You may object to the new uses of your data \
announced in this change.
<a href="{{{{ opt_out }}}}" style="color:#b42318;font-weight:bold;">
Object to the new uses (opt out)</a></p>
{{% endif %}}
<hr style="border:none;border-top:1px solid #e0e0dc;margin:24px 0 12px;">
<p style="margin:0;font-size:13px;color:#666666;">You receive this email because you \
subscribed to changes of {{{{ site }}}}&rsquo;s {{{{ title }}}}.
<a href="{{{{ unsubscribe }}}}" style="color:#666666;">
Unsubscribe</a> (opens a page with one button; no login needed).</p>
"""
    + _FOOT
)

CONFIRM_HTML = (
    _HEAD
    + f"""\
<h1 style="font-size:20px;line-height:1.3;margin:0 0 12px;">\
Confirm your subscription to {{{{ site }}}}&rsquo;s policy changes</h1>
<p style="{_P}">Someone, hopefully you, asked to receive an email when {{{{ site }}}} changes:</p>
<ul style="margin:0 0 12px;padding-left:20px;">
{{% for p in policies %}}
<li>{{{{ p }}}}</li>
{{% endfor %}}
</ul>
<p style="{_P}">{{{{ scope }}}}</p>
<p style="margin:20px 0;"><a href="{{{{ confirm_url }}}}" style="display:inline-block;\
padding:10px 16px;background:#1f4e8c;color:#ffffff;text-decoration:none;border-radius:4px;">\
Open the confirmation page</a></p>
<p style="{_P}font-size:14px;">The link opens a page with a button; nothing changes until you \
press it. If you did not ask for this, ignore this email: you will not hear from us again.</p>
"""
    + _FOOT
)
