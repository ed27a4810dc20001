"""Hostile XML bodies (entity expansion, external entities and DTDs) shared by the
parsing and the reliability tests."""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<SuccessResponse><Head><RequestAction>GetOrders</RequestAction></Head>
<Body><Orders><Order><OrderNumber>&lol9;</OrderNumber></Order></Orders></Body></SuccessResponse>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<SuccessResponse><Head><RequestAction>GetOrders</RequestAction></Head>
<Body><Orders><Order><OrderNumber>&xxe;</OrderNumber></Order></Orders></Body></SuccessResponse>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE SuccessResponse SYSTEM "http://127.0.0.1:9/evil.dtd">
<SuccessResponse><Head><RequestAction>GetOrders</RequestAction></Head><Body/></SuccessResponse>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote;]>
<SuccessResponse><Head><RequestAction>GetOrders</RequestAction></Head><Body/></SuccessResponse>"""
