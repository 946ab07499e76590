# Draws the demo departments' seals (red ring, star, name along the ring) as PNGs.
import math, sys
from PIL import Image, ImageDraw, ImageFont
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
def seal(name, out, size=360):
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    red = (200, 30, 30, 235)
    c = size / 2
    d.ellipse([8, 8, size - 8, size - 8], outline=red, width=12)
    # star
    r1, r2 = size * 0.16, size * 0.065
    pts = []
    for i in range(10):
        a = -math.pi / 2 + i * math.pi / 5
        r = r1 if i % 2 == 0 else r2
        pts.append((c + r * math.cos(a), c + r * math.sin(a)))
    d.polygon(pts, fill=red)
    f = ImageFont.truetype(FONT, int(size * 0.11), index=2)
    n = len(name)
    span = math.radians(min(250, 28 * n))
    for i, ch in enumerate(name):
        a = -math.pi / 2 - span / 2 + span * (i + 0.5) / n
        x, y = c + (c - 52) * math.cos(a), c + (c - 52) * math.sin(a)
        g = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
        ImageDraw.Draw(g).text((40, 40), ch, font=f, fill=red, anchor="mm")
        g = g.rotate(-math.degrees(a) - 90, resample=Image.BICUBIC)
        img.alpha_composite(g, (int(x - 40), int(y - 40)))
    img.save(out, optimize=True)
for name, out in [(sys.argv[i], sys.argv[i + 1]) for i in range(1, len(sys.argv), 2)]:
    seal(name, out)
