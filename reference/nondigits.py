#!/usr/bin/python3
"""Images that are not one digit, for the checks of `lenetkit infer` that say so.

    nondigits.py [OUT]      # default testdata/images/nondigits

writes, dark ink on white paper as a person writes it (DejaVu Sans Bold,
found by Pillow among the system's fonts):

  letter_g.png   a lower-case g: a letter the model has never seen
  letter_A.png   a capital A
  42.png         the two digits "42" side by side: two marks of the same size
  blank.png      white paper, nothing on it
  blank_grey.png grey paper, nothing on it
  7_on_desk.png  a 7 on paper that covers only the left of the picture, the
                 rest a dark desk: the border is half paper, half desk, and
                 which is the paper is a guess

The files are small PNGs committed under testdata/; the tests read those, and
this script runs only to remake them. Nothing here needs PyTorch: Pillow only.
"""
import os
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "DejaVuSans-Bold.ttf"


def text(s, size, font_px):
    """s drawn in black, centred on white paper of size (w, h)."""
    font = ImageFont.truetype(FONT, font_px)
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = d.textbbox((0, 0), s, font=font)
    d.text(((size[0] - (x1 - x0)) / 2 - x0, (size[1] - (y1 - y0)) / 2 - y0), s, font=font, fill=0)
    return img


def on_desk(sheet, size, desk):
    """sheet pasted at the left of a picture of size whose rest is a desk of grey desk."""
    img = Image.new("L", size, desk)
    img.paste(sheet, (0, 0))
    return img


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("testdata", "images", "nondigits")
    os.makedirs(out, exist_ok=True)
    images = {
        "letter_g.png": text("g", (64, 64), 48),
        "letter_A.png": text("A", (64, 64), 48),
        "42.png": text("42", (96, 64), 48),
        "blank.png": Image.new("L", (64, 64), 255),
        "blank_grey.png": Image.new("L", (64, 64), 180),
        "7_on_desk.png": on_desk(text("7", (40, 64), 44), (64, 64), 50),
    }
    for name, img in images.items():
        img.save(os.path.join(out, name), optimize=True)
        print(os.path.join(out, name))


if __name__ == "__main__":
    main()
