# One long-lived interpreter for a test binary's reference scripts: importing
# torch costs seconds, and the tests run dozens of scripts. Each request is a
# JSON line {"script", "args", "env"}; the script runs as __main__ with that
# argv, and the reply is a JSON line {"code", "stdout" (base64), "stderr"}.
import base64
import io
import json
import os
import runpy
import sys
import traceback

import torch  # noqa: F401  (the import the server exists to pay once)

replies = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    out, err = io.BytesIO(), io.StringIO()
    text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    saved = (sys.argv, sys.stdout, sys.stderr, list(sys.path), dict(os.environ))
    sys.argv = [req["script"]] + req["args"]
    sys.stdout, sys.stderr = text, err
    sys.path.insert(0, os.path.dirname(req["script"]))
    os.environ.update(req.get("env") or {})
    code = 0
    try:
        runpy.run_path(req["script"], run_name="__main__")
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=err)
            code = 1
    except BaseException:
        traceback.print_exc(file=err)
        code = 1
    finally:
        text.flush()
        sys.argv, sys.stdout, sys.stderr, sys.path[:] = saved[0], saved[1], saved[2], saved[3]
        os.environ.clear()
        os.environ.update(saved[4])
    replies.write(json.dumps({"code": code, "stdout": base64.b64encode(out.getvalue()).decode(),
                              "stderr": err.getvalue()}) + "\n")
    replies.flush()
