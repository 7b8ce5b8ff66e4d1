/** A React widget that renders again when it is shown or hidden: its views poll and follow live
 * changes only while visible (they read `isVisible`). */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';

export abstract class VisibilityWidget extends ReactWidget {
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
  }
}
