"""Object detection on PCB defects (Project #2 of the course).

Modules (import them explicitly, e.g. ``from course_utils.detection import pcb``):

* ``pcb``        - the DeepPCB loader, the synthetic PCB twin and ``DetectionSet``
                   (class names, official counts, ``load_pcb_data`` as the notebooks' entry point).
* ``pcb_twin``   - drawing of synthetic PCB layouts and their six defect types (used by ``pcb``).
* ``formats``    - DeepPCB txt, YOLO txt and COCO json conversions; data-set summaries.
* ``draw``       - drawing boxes on images and box-size histograms (matplotlib).
* ``boxes``      - IoU, box areas and non-maximum suppression.
* ``metrics``    - detection matching, AP / mAP and the DeepPCB protocol.
* ``classical``  - the template-difference baseline (OpenCV).
* ``detector``   - the small one-stage detector written as the lesson.
* ``tv_detectors`` - torchvision detectors through the offline-safe weights path.
* ``widgets``    - an ipywidgets threshold tool.
* ``yolo``       - YOLO data sets, ultralytics runs and ONNX export.

Conventions shared by every module: boxes are ``float32 (k, 4)`` arrays of
``x1, y1, x2, y2`` pixels; class ids are ``int64`` 1..6 indexing
``pcb.PCB_CLASSES`` as ``class_names[id - 1]`` (0 = background, unused).
"""

__all__: list[str] = []
