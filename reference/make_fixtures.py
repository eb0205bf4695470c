"""Writes the training fixtures under testdata/ that lenetkit's Go tests compare against.

    /usr/bin/python3 reference/make_fixtures.py            # all of them
    /usr/bin/python3 reference/make_fixtures.py onecycle step

  onecycle  testdata/onecycle.json: OneCycleLR rate and Adam beta1 at every step of three schedules
  step      testdata/step.pth, step.json: two Adam steps of LeNet from known weights on known batches
  stepeval  testdata/step_eval.pth, step_eval.json: the same in eval mode (model.eval(): BatchNorm
            frozen, dropout off), from weights and statistics after 5 train-mode steps
  trained   testdata/lenet_trained.pth, .json: the recipe for 2 epochs, and its test figures
  forward   testdata/forward.pth: logits of lenet_trained.pth on test images 0..255

Tensors are float32 or int64 only, scalars 0-d, keys flat strings; anything
else goes to the JSON beside them. Every output is written to a temporary file
and renamed into place. Deterministic: each part seeds torch itself.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_idx  # noqa: E402
import train_reference as ref  # noqa: E402
from lenet import LeNet  # noqa: E402

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata")


def out(name):
    return os.path.join(TESTDATA, name)


def write_json(obj, path):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        # json writes floats with repr: the shortest string that reads back to the same double.
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def onecycle():
    """For each case, the lr and beta1 that optimizer.step() uses at step 0..total-1."""
    cases = [
        {"name": "seed", "adam": {"lr": 1e-4, "weight_decay": 0.002},
         "onecycle": {"max_lr": 1e-2, "epochs": 3, "steps_per_epoch": 7}},
        {"name": "linear", "adam": {"lr": 1e-4, "weight_decay": 0.002},
         "onecycle": {"max_lr": 1e-2, "total_steps": 30, "pct_start": 0.25, "div_factor": 10.0,
                      "final_div_factor": 100.0, "anneal_strategy": "linear",
                      "base_momentum": 0.8, "max_momentum": 0.9}},
        {"name": "no_momentum", "adam": {"lr": 1e-4, "weight_decay": 0.002},
         "onecycle": {"max_lr": 1e-2, "epochs": 3, "steps_per_epoch": 7, "cycle_momentum": False}},
    ]
    for c in cases:
        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([p], **c["adam"])
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, **c["onecycle"])
        c["total_steps"] = sched.total_steps
        c["lr"], c["beta1"] = [], []
        for _ in range(sched.total_steps):
            g = opt.param_groups[0]
            c["lr"].append(g["lr"])
            c["beta1"].append(g["betas"][0])
            opt.step()  # p has no grad: nothing changes, but the scheduler sees the usual order
            sched.step()
    write_json({"torch": torch.__version__,
                "note": "lr[i], beta1[i]: param_groups[0] values read before scheduler.step() "
                        "at step i, i.e. what optimizer.step() uses at step i; defaults of "
                        "OneCycleLR for every argument not listed",
                "cases": cases}, out("onecycle.json"))


def step(data_dir, eval_mode=False):
    """Two Adam steps of LeNet on two real MNIST batches: in train mode with
    Dropout1d p=0, or (eval_mode) in eval mode with the seed's p=0.3, which
    eval mode switches off, after 5 train-mode steps on other images."""
    x, y = mnist_idx.load(data_dir, "train")
    hyper = [{"lr": 4e-4, "beta1": 0.95}, {"lr": 0.005, "beta1": 0.9}]
    beta2, eps, wd, batch = 0.999, 1e-8, 0.002, 32
    warmup = 5 if eval_mode else 0

    torch.manual_seed(0)
    model = LeNet(dropout=0.3 if eval_mode else 0.0)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=hyper[0]["lr"], betas=(hyper[0]["beta1"], beta2),
                           eps=eps, weight_decay=wd)
    criterion = nn.CrossEntropyLoss()
    for w in range(warmup):
        lo = 1000 + w * batch
        opt.zero_grad()
        criterion(model(x[lo:lo + batch]), y[lo:lo + batch]).backward()
        opt.step()
    if eval_mode:
        # Adam's moments are not part of the fixture: start the recorded steps afresh.
        opt = torch.optim.Adam(model.parameters(), lr=hyper[0]["lr"], betas=(hyper[0]["beta1"], beta2),
                               eps=eps, weight_decay=wd)
        model.eval()
    t = {f"init.{k}": v.clone() for k, v in model.state_dict().items()}
    steps = []
    for s, h in enumerate(hyper, start=1):
        lo = (s - 1) * batch
        bx, by = x[lo:lo + batch].clone(), y[lo:lo + batch].clone()
        for g in opt.param_groups:
            g["lr"] = h["lr"]
            g["betas"] = (h["beta1"], beta2)
        opt.zero_grad()
        logits = model(bx)
        loss = criterion(logits, by)
        loss.backward()
        t[f"{s}.x"], t[f"{s}.y"] = bx, by
        t[f"{s}.logits"] = logits.detach().clone()
        t[f"{s}.loss"] = loss.detach().clone()
        for name, p in model.named_parameters():
            t[f"{s}.grad.{name}"] = p.grad.detach().clone()
        opt.step()
        for k, v in model.state_dict().items():
            t[f"{s}.after.{k}"] = v.clone()
        steps.append({"step": s, "lr": h["lr"], "beta1": h["beta1"],
                      "train_indices": [lo, lo + batch], "loss": loss.item()})

    for k, v in t.items():
        assert v.dtype in (torch.float32, torch.int64), (k, v.dtype)
    name = "step_eval" if eval_mode else "step"
    ref.save_atomic(t, out(name + ".pth"))
    init = "torch.manual_seed(0); LeNet(dropout=0.0); model.train()"
    if eval_mode:
        init = ("torch.manual_seed(0); LeNet(dropout=0.3); model.train(); 5 Adam steps (lr 4e-4, beta1 0.95) "
                "on training images 1000+32w..1000+32w+31, w = 0..4; a fresh Adam; model.eval()")
    write_json({
        "torch": torch.__version__,
        "mode": "eval" if eval_mode else "train",
        "init": init,
        "data": "train file, preprocessed as ToTensor then Pad(2); step s uses images "
                "train_indices[0]..train_indices[1]-1",
        "loss": "CrossEntropyLoss, mean over the batch",
        "optimizer": {"name": "torch.optim.Adam", "beta2": beta2, "eps": eps,
                      "weight_decay": wd, "amsgrad": False, "foreach": False,
                      "note": "lr and betas set in param_groups before each step; the bias "
                              "correction 1-beta1**t uses the beta1 of the current step"},
        "batchnorm": {"eps": 1e-5, "momentum": 0.1,
                      "note": ("eval mode: running statistics normalise and stay unchanged; dropout is off"
                               if eval_mode else "train mode: batch mean and biased variance normalise; "
                               "running_var takes the unbiased variance")},
        "steps": steps,
        "grad": "p.grad after loss.backward(): the loss gradient only, before Adam adds "
                "weight_decay * p",
        "keys": list(t.keys()),
    }, out(name + ".json"))


def trained(data_dir):
    """The recipe for 2 epochs, saved as a user would have it, with its test figures."""
    epochs, seed = 2, 0
    torch.manual_seed(seed)
    model = LeNet()
    train_loader, val_loader, test_loader = ref.loaders(data_dir, 128)
    start = time.perf_counter()
    history = ref.train(model, train_loader, val_loader, epochs)
    secs = time.perf_counter() - start
    ref.save_atomic(model.state_dict(), out("lenet_trained.pth"))

    acc, loss = ref.evaluate(model, test_loader)
    tx, ty = mnist_idx.load(data_dir, "test")
    facc, floss = ref.evaluate_full(model, tx, ty)
    figures = {
        "seed": {"images": len(test_loader) * 128, "batches": len(test_loader),
                 "accuracy": acc, "loss": loss,
                 "accuracy_line": f"Accuracy: {acc:.2f}%", "loss_line": f"Average Loss: {loss:.4f}",
                 "protocol": "test loader batch 128, drop_last=True; accuracy = correct/images*100; "
                             "loss = mean of the batch-mean cross-entropies"},
        "full": {"images": tx.shape[0], "accuracy": facc, "loss": floss,
                 "accuracy_line": f"Accuracy: {facc:.2f}%", "loss_line": f"Average Loss: {floss:.4f}",
                 "protocol": "all test images; accuracy = correct/images*100; "
                             "loss = mean of the per-image cross-entropies"},
    }
    write_json({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "recipe": {"epochs": epochs, "seed": seed, "batch_size": 128, "drop_last": True,
                   "split": [ref.TRAIN, ref.VAL], "split_generator_seed": 0,
                   "steps_per_epoch": len(train_loader), "schedule_steps": epochs * len(train_loader),
                   "adam": {"lr": ref.LR, "weight_decay": ref.WEIGHT_DECAY},
                   "onecycle": {"max_lr": ref.MAX_LR}, "dropout1d": 0.3},
        "history": history, "train_seconds": secs,
        "test": figures,
    }, out("lenet_trained.json"))
    print(f"lenet_trained: seed {figures['seed']['accuracy_line']} {figures['seed']['loss_line']}; "
          f"full {figures['full']['accuracy_line']} {figures['full']['loss_line']}")


def forward(data_dir):
    """Eval-mode logits of lenet_trained.pth on test images 0..255; the images are not stored."""
    model = LeNet()
    model.load_state_dict(torch.load(out("lenet_trained.pth")))
    model.eval()
    x, y = mnist_idx.load(data_dir, "test")
    x, y = x[:256], y[:256]
    with torch.no_grad():
        logits = model(x)
    ref.save_atomic({
        "logits": logits.clone(),
        "labels": y.clone(),
        "input_sum": x.double().sum(dim=(1, 2, 3)).float(),
    }, out("forward.pth"))


def step_eval(data_dir):
    step(data_dir, eval_mode=True)


PARTS = {"onecycle": onecycle, "step": step, "stepeval": step_eval, "trained": trained, "forward": forward}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="folder with the MNIST .gz files (default: GoMNIST's data/ in the Go module cache)")
    p.add_argument("parts", nargs="*", metavar="PART",
                   help="which fixtures to write: " + ", ".join(PARTS) + " (default: all, in this order)")
    args = p.parse_args()
    for name in args.parts:
        if name not in PARTS:
            p.error(f"unknown part {name!r}; want one of {', '.join(PARTS)}")
    torch.set_num_threads(2)
    os.makedirs(TESTDATA, exist_ok=True)
    data_dir = None
    for name in args.parts or list(PARTS):
        fn = PARTS[name]
        if name == "onecycle":
            fn()
            continue
        data_dir = data_dir or args.data or mnist_idx.default_data_dir()
        fn(data_dir)


if __name__ == "__main__":
    main()
